"""The command line's parts (``python -m anpolicy``; the entry point is `anpolicy.__main__`).

`parser` builds the argument parser (imports nothing heavy, so ``--help`` is quick),
`checks` checks what was typed before anything runs, `commands` holds one function per
subcommand, each importing what it runs.

May import: every layer (the command line sits on top, with the facade).
"""

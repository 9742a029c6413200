"""The command line (typer). The only package that imports typer and rich."""

"""The command handlers behind `graphc COMMAND`: one layer above the Python API.

Each module holds one command's handler, `<name>_command(args) -> int`, that takes the parsed
argparse namespace, does the work through the Python API and prints what the user sees;
`load.py` is the one way every command reads its input (a spec or an .onnx file).
`graphc/cli.py` keeps argument parsing, error messages and exit codes, and dispatches here.
"""

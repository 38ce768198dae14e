from likeness.cli import run

run()

from likeness.cli import run

if __name__ == "__main__":  # not when a spawned child process imports it
    run()

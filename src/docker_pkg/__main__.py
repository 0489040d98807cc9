from docker_pkg.cli import run

run()

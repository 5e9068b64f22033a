"""Shared fixtures: the `lowrank` binary this package was built with, and a runner for it."""
import json
import os
import subprocess

import numpy as np
import pytest

import lowrank


@pytest.fixture(scope="session")
def exe():
    return lowrank.executable()


class Cli:
    def __init__(self, exe):
        self.exe = exe

    def run(self, *args, check=False):
        p = subprocess.run([self.exe, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"lowrank {' '.join(map(str, args))}: exit {p.returncode}: {p.stderr}")
        return p

    def error(self, *args):
        """The one-line refusal of the command, without its 'lowrank: error: ' prefix."""
        p = self.run(*args)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        line = p.stderr.strip().splitlines()[-1]
        assert line.startswith("lowrank: error: "), line
        return line[len("lowrank: error: "):]

    def check_json(self, *args):
        p = self.run("check", "--json", *args)
        assert p.returncode in (0, 1, 5), (p.returncode, p.stderr)
        return json.loads(p.stdout), p.returncode


@pytest.fixture(scope="session")
def cli(exe):
    return Cli(exe)


def save(path, a):
    np.save(path, np.asarray(a))
    return str(path)

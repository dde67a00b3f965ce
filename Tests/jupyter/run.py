"""Runs the Jupyter tests (every Tests/jupyter/test_*.py, or the files given) with unittest and
ends with the line "N passed, N failed, N skipped" that scripts/test.sh adds up.
Usage: FP=.build/release/fp python Tests/jupyter/run.py [test files]"""
import os
import sys
import unittest
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))


class Counting(unittest.TextTestResult):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    files = sys.argv[1:] or sorted(str(p) for p in here.glob("test_*.py"))
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for f in files:
        suite.addTests(loader.loadTestsFromName(Path(f).stem))
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Counting, stream=sys.stdout)
    r = runner.run(suite)
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    print(f"{r.passed} passed, {failed} failed, {len(r.skipped)} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    os.chdir(here.parent.parent)
    main()

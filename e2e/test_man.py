"""Man pages and shell completion stay in step with the binaries.

dist/man/<binary>.1 is generated from `<binary> --help` (hack/gen-man.py)
and shipped as it is by `make install` and the Debian packages; this test
fails, with the diff, as soon as a --help changes without the page being
regenerated (`make all && hack/gen-man.py`). It also checks that the pages
render without groff warnings and that corralctl's bash completion offers
every command its --help lists.
"""
import os
import re
import shutil
import subprocess
import unittest

import harness

ROOT = harness.ROOT
GEN = os.path.join(ROOT, "hack", "gen-man.py")


class ManTest(unittest.TestCase):
    def test_pages_match_help(self):
        r = subprocess.run(["python3", GEN, "--bin", harness.BIN, "--check"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout[-6000:] + r.stderr)

    @unittest.skipIf(shutil.which("man") is None, "man is missing (man-db)")
    def test_pages_render_cleanly(self):
        for name in ("corrald", "corralctl", "corral-executor", "corral-nodeagent", "mesoslite"):
            page = os.path.join(ROOT, "dist", "man", name + ".1")
            r = subprocess.run(["man", "--warnings", "-l", "-Tutf8", page], capture_output=True,
                               text=True, timeout=60, env=dict(os.environ, MANWIDTH="80"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", name)
            self.assertIn("SYNOPSIS", re.sub(".\b", "", r.stdout))  # no overstrike

    def test_bash_completion_offers_every_command(self):
        script = ('source %s; COMP_WORDS=(corralctl ""); COMP_CWORD=1; _corralctl; '
                  'printf "%%s\\n" "${COMPREPLY[@]}"'
                  % os.path.join(ROOT, "dist", "bash-completion", "corralctl"))
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PATH=harness.BIN + os.pathsep +
                                    os.environ["PATH"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        offered = set(r.stdout.split())
        help_text = subprocess.run([os.path.join(harness.BIN, "corralctl"), "--help"],
                                   capture_output=True, text=True).stdout
        listed = help_text.split("commands:")[1].split("\n\n")[0].split("\n")
        for line in listed:
            if line.strip():
                self.assertIn(line.split()[0], offered)


if __name__ == "__main__":
    harness.main()

"""What several test folders share: the inline DBRunner, the small centres and worlds the
tests build, the web tests' browser and fixtures, the real-browser kit, the subprocesses,
the suite's T0, and the recorded Asterisk facts. A helper only one folder uses stays there."""

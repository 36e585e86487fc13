"""What the tests and the benchmarks share (as flask.testing and django.test ship theirs): the real server
in a subprocess (`liveserver`), a seeded database and the test settings (`setup`), and stand-ins that
speak an outside service's protocol where this machine cannot reach it (`whatsapp`). Needs
requirements-test.txt; the product never imports it."""

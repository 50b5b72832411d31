"""The AWS adapters against moto's server, started in this process on a loopback port.

The server and the AWS fixtures live in ``tests/aws/moto_server.py``; ``tests/conftest.py``
registers them for the whole test tree, so that the contract suites under
``tests/integration`` run their "s3", "glacier" and "ses" kinds on the same server as the
tests here. Nothing under tests/aws can reach the real AWS: every client is asserted to point
at a loopback endpoint, with dummy credentials from the environment.
"""

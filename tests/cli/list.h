/* Tests of src/cli, by name: X(name) runs test_name from tests/cli/test_*.c. */

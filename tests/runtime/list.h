/* Tests of src/runtime, by name: X(name) runs test_name from tests/runtime/test_*.c. */

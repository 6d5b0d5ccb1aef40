/* Tests of src/http, by name: X(name) runs test_name from tests/http/test_*.c. */

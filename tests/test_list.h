/* Every test, by name: X(name) runs test_name from tests/<sub>/test_*.c. */
X(iso_eval_returns_value)
X(iso_host_function_round_trip)

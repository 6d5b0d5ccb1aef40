/* Tests of src/cli, by name: X(name) runs test_name from tests/cli/test_*.c. */
X(config_full_reads_every_field)
X(config_defaults)
X(config_errors_name_the_field)
X(config_invalid_json_gives_line)
X(config_vars_of_every_json_type)
X(config_load_reads_file_and_resolves_main)
X(config_reads_origins_and_pass_through_routes)
X(config_cli_vars_to_json)

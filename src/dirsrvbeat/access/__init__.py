"""The access-log job: wiring of input -> parse -> join -> enrich for `access parse|ship|report`."""

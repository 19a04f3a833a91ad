"""The read model: the read tables (`tables`), their migrations, the positions of the consumers
that write them (`read_store`), how each event folds into them (`handlers` and one module per
resource) and the readers shared by both services (`counts`, `numbers`).

The projector (projections/) writes it; the query service reads it; the command service reads
it only through the port of command_service/services/directory.py. It may import `domain`,
`configuration` and `http_api.documents` (the public JSON it stores), nothing above them."""

READ_MODEL = "read_model"  # the projector's name: its row in `positions` and its Kafka consumer group

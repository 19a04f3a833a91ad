"""The event bus: the event log published to Kafka, and consumers reading it back.

envelope  the JSON message of one event (the public contract, docs/event-bus.md)
broker    Kafka settings, the topic, and the producer/consumer options
relay     `eosc-perf relay`: event store -> topic, in notification order, one active relay
source    a Kafka consumer group as a source of (notification id, event) batches
lag       each consumer's position against the head of the log and the topic
"""

"""What device and home server agree on over MQTT: the topic tree (`topics`), the payload
schemas (`schemas`) and how a client connects (`connection`). Topics and payloads are in
docs/MQTT.md."""

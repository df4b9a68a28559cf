"""The device's part in consent: it signs what it did by itself (`device_audit`) and takes
footage requests from MQTT as pending (`intake`); it never answers one itself."""

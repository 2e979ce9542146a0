"""The Singer boundary: reading messages and everything that touches singer-sdk's internals (see ``touch_points``)."""

"""paysaga's outgoing events: their wire form and the signature consumers verify."""

"""Brand activities: published by brand leads, signed up for by residents, checked in at the door."""

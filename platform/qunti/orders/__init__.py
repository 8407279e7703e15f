"""The order cycle: 点单 → 派单 → 办单 → 评单."""

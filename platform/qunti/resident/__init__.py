"""Pages residents use: the service menu, the item's form, the receipt and tracking."""

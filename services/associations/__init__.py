"""Alumni associations: the tree and its regions, finding the responsible or nearest one, joining with consent, and
the branch admins' scope. ``scope`` is the console's access rule; the other modules hold the rules of each part."""

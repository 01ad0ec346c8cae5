"""Form definitions (data) shipped with gkxlsx."""

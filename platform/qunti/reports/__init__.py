"""Reports computed from order rows: the 评单 evaluation of organizations, stations and units."""

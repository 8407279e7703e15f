"""The admin console (Flask-Admin, in Chinese): what district staff configure without code."""

"""Extension instances, configured in create_app()."""

from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .client_address import counted_address
from .models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
# Counts requests per client address (an IPv6 client's network: see client_address); clinic/limits.py says
# which requests and how many.
limiter = Limiter(key_func=counted_address)

"""Every ORM module, imported so that ``Base.metadata`` knows every table (migrations, the audit
trail's adoption and verification, database grants)."""

from __future__ import annotations

import credit.audit_models  # noqa: F401
import credit.grading_models  # noqa: F401
import credit.models  # noqa: F401
import inspection.models  # noqa: F401
import inspection.result_models  # noqa: F401
import inspection.task_models  # noqa: F401
from credit.db import Base

metadata = Base.metadata

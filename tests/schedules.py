"""Holiday schedules made up for the tests (the real 2027 notice is not out at the time of writing)."""

# 元旦 1–3 January; a two-day holiday on Tuesday 2 and Wednesday 3 March, and Saturday 6 March worked.
SCHEDULE_2027 = """year = 2027
source = "测试用安排（非真实通知）"
workdays = [2027-03-06]
[[holiday]]
name = "元旦"
from = 2027-01-01
to = 2027-01-03
[[holiday]]
name = "测试假期"
from = 2027-03-02
to = 2027-03-03
"""

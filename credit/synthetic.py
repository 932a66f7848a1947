"""Generate realistic directory CSV files for spotcheck (双随机、一公开), at any size.

Writes ``enterprises.csv``, ``records.csv``, ``departments.csv``, ``items.csv`` and
``inspectors.csv`` (UTF-8, English headers = the import column names) into ``--out``.

* Streaming: rows go straight to the files; memory stays flat at any size
  (1,000,000 enterprises with 10,000,000 records is fine). An enterprise's credit
  records are written in the same pass as the enterprise, and every USCC is a pure
  function of the enterprise index (``Generator.core``), so inspectors' 回避企业 are
  real generated enterprises without storing any of them.
* Deterministic: every random choice comes from ``random.Random(--seed)`` (sub-streams
  are seeded from it in a fixed order); the same arguments give byte-identical files.
  enterprises.csv does not depend on the record, inspector or item options.
* Valid: every row passes the import rules (credit/directory.py, inspection/directory.py)
  when imported on or after ``--today``; no generated date is after ``--today``
  except 影响期截止, certificate expiry and leave dates, which may be. 在岗 inspectors'
  certificates run at least 3 years past ``--today``.

Only the standard library and python-stdnum are used. ``spotcheck demo`` builds its district
with it; ``bench/generate.py`` is its command line.

Example::

    python bench/generate.py --enterprises 300 --records-per-enterprise 2.5 \\
        --departments 3 --inspectors 20 --items 10 --districts 500106,500107 \\
        --seed 20261101 --today 2026-11-01 --out examples
"""

from __future__ import annotations

import argparse
import ast
import csv
import datetime as dt
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stdnum.cn.uscc import calc_check_digit

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the migrations folder ships beside credit/

# ---------------------------------------------------------------------------------------------
# Reference tables
# ---------------------------------------------------------------------------------------------

def chongqing_districts() -> list[tuple[str, str]]:
    """The CHONGQING list of the directories migration: the one copy of the codes the database knows."""
    for path in sorted((PACKAGE_ROOT / "migrations" / "versions").glob("*_directories.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CHONGQING" for t in node.targets):
                return [tuple(pair) for pair in ast.literal_eval(node.value)]
    raise SystemExit("bench/generate.py: no CHONGQING list in migrations/versions/*_directories.py")


# Rough relative number of market entities per district (urban districts are bigger).
DISTRICT_WEIGHT = {
    "500112": 14, "500107": 11, "500106": 10, "500105": 10, "500108": 9, "500103": 8, "500113": 8,
    "500101": 8, "500116": 6, "500102": 6, "500109": 5, "500117": 5, "500118": 5, "500104": 3,
    "500110": 4, "500111": 4, "500115": 4, "500119": 3, "500120": 4, "500151": 3, "500152": 3,
    "500153": 3, "500154": 4, "500155": 3, "500156": 2, "500114": 2,
}

# Short forms used in document numbers (渝沙市监处罚〔2025〕123号); unique per district.
DISTRICT_ABBR = {
    "500101": "万", "500102": "涪", "500103": "中", "500104": "渡", "500105": "江北", "500106": "沙",
    "500107": "九", "500108": "南", "500109": "碚", "500110": "綦", "500111": "足", "500112": "北",
    "500113": "巴", "500114": "黔", "500115": "长", "500116": "津", "500117": "合", "500118": "永",
    "500119": "南川", "500120": "璧", "500151": "铜", "500152": "潼", "500153": "荣", "500154": "开",
    "500155": "梁", "500156": "武", "500229": "城", "500230": "丰", "500231": "垫", "500233": "忠",
    "500235": "云", "500236": "奉", "500237": "巫山", "500238": "巫溪", "500240": "石", "500241": "秀",
    "500242": "酉", "500243": "彭",
}

# Towns and streets (镇街) that name the 市场监管所 and appear in addresses.
TOWNS = {
    "500106": "井口 磁器口 小龙坎 覃家岗 陈家桥 西永 土主 回龙坝 凤凰 中梁 歌乐山 童家桥 石井坡 渝碚路 天星桥 詹家溪 山洞 新桥 虎溪 青木关 联芳 井双",
    "500107": "杨家坪 谢家湾 黄桷坪 石坪桥 石桥铺 二郎 中梁山 华岩 渝州路 九龙 白市驿 西彭 铜罐驿 陶家 走马 含谷 金凤 巴福 石板",
    "500103": "解放碑 朝天门 七星岗 大溪沟 上清寺 化龙桥 大坪 石油路 两路口 菜园坝 南纪门 望龙门",
    "500105": "观音桥 五里店 大石坝 石马河 寸滩 郭家沱 鱼嘴 复盛 华新街 铁山坪 江北城",
    "500108": "南坪 弹子石 铜元局 花园路 南山 长生桥 峡口 迎龙 鸡冠石 涂山 海棠溪",
    "500112": "两路 回兴 龙溪 龙山 龙塔 双凤桥 双龙湖 仙桃 悦来 宝圣湖 木耳 统景 大盛 礼嘉",
    "500104": "新山村 跃进村 九宫庙 茄子溪 春晖路 八桥 建胜 跳磴",
    "500109": "北温泉 朝阳 天生 龙凤桥 蔡家岗 歇马 澄江 童家溪 施家梁 静观 水土",
    "500113": "鱼洞 李家沱 龙洲湾 南泉 花溪 界石 一品 木洞 南彭 惠民",
}
GENERIC_TOWNS = (
    "城关 新城 龙溪 桃花 白鹤 青杠 高峰 石龙 新华 东城 西城 南城 北城 双河 太平 永兴 龙井 复兴 "
    "清平 凤凰 金桥 三星 河坝 长滩 白沙 中和 天台 石门 黄桷 竹林 安居 古镇 万寿 石盘 龙河 新民"
).split()
ROADS = (
    "学府大道 汉渝路 天星桥正街 石小路 沙南街 渝州路 科园一路 杨九路 九龙大道 西城大道 长江路 "
    "朝阳路 人民路 新华路 解放路 建设路 团结路 民主路 胜利路 中山路 滨江路 滨河路 环城路 工业园路 "
    "育才路 康宁路 金科路 龙湖路 兴隆街 正街 老街 新街 农贸市场路 商业街 文化路 体育路 花园路 白鹤路"
).split()

SURNAMES = (
    ("王", 70), ("李", 70), ("张", 65), ("刘", 55), ("陈", 52), ("杨", 45), ("黄", 25), ("赵", 20),
    ("吴", 20), ("周", 22), ("徐", 14), ("孙", 10), ("马", 10), ("朱", 10), ("胡", 14), ("郭", 10),
    ("何", 16), ("高", 10), ("林", 8), ("罗", 16), ("郑", 8), ("梁", 8), ("谢", 10), ("宋", 8),
    ("唐", 14), ("许", 6), ("韩", 5), ("冯", 8), ("邓", 14), ("曹", 6), ("彭", 12), ("曾", 10),
    ("肖", 10), ("田", 10), ("董", 6), ("袁", 10), ("潘", 5), ("蒋", 8), ("蔡", 5), ("余", 10),
    ("杜", 7), ("叶", 5), ("程", 6), ("魏", 5), ("吕", 4), ("丁", 5), ("任", 7), ("姚", 4),
    ("卢", 5), ("谭", 12), ("陆", 3), ("范", 5), ("石", 6), ("廖", 8), ("夏", 5), ("付", 6),
    ("方", 4), ("邹", 6), ("熊", 9), ("秦", 7), ("江", 5), ("雷", 6), ("龙", 5), ("陶", 5),
    ("向", 9), ("冉", 7), ("牟", 5), ("游", 4), ("钟", 5), ("汪", 4), ("蒲", 3), ("苟", 3),
)
GIVEN = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 建 国 文 辉 "
    "玲 红 波 斌 鹏 宇 浩 凯 健 俊 帆 帅 旭 宁 龙 林 欢 阳 佳 婷 雪 琳 晨 欣 怡 梦 瑶 璐 "
    "倩 莉 鑫 博 亮 峰 飞 海 江 川 渝 成 德 福 贵 兰 梅 春 秋 志 永 清 新 兵 东 云 德 顺 "
    "家 伦 婷 萍 琴 燕 蓉 莎 思 雨 晓 慧 锐 彬 毅 航 轩 睿 泽 涵 然 诗 悦 诚"
).split()
TRADE_CHARS = (
    "鑫 源 宏 达 恒 信 瑞 丰 嘉 盛 华 兴 隆 泰 顺 福 祥 和 美 佳 润 博 创 远 航 腾 飞 锦 绣 "
    "金 银 天 龙 凤 山 城 渝 巴 蜀 川 新 优 品 诚 德 汇 聚 智 森 林 海 联 合 安 康 正 通 荣 "
    "辉 光 明 星 月 永 益 乐 欣 悦 鸿 宇 昌 晟 豪 晶 旭 泓 蓉 凯 辰 朗 卓 越 尚 弘 景 骏 麒"
).split()

# (GB/T 4754-2017 class, weight as 企业, weight as 个体工商户, company trade words,
#  individual shop words, sector of its penalties, is a 四新 industry)
PROFILES = (
    ("F5211", 6, 8, ("商贸", "百货"), ("便利店", "百货店", "副食店"), "食品", False),
    ("F5212", 3, 2, ("超市", "商业连锁"), ("超市",), "食品", False),
    ("F5223", 1, 6, ("果蔬",), ("水果店", "蔬菜店"), "食品", False),
    ("F5224", 1, 5, ("肉类食品",), ("鲜肉店", "冷鲜肉店"), "食品", False),
    ("F5226", 2, 3, ("酒业", "茶业"), ("烟酒店", "茶叶店"), "食品", False),
    ("H6210", 5, 9, ("餐饮管理", "餐饮文化"), ("火锅店", "中餐馆", "饭店", "家常菜馆"), "食品", False),
    ("H6220", 2, 4, ("餐饮",), ("快餐店",), "食品", False),
    ("H6291", 1, 10, ("小吃",), ("小吃店", "面馆", "抄手店", "豆花饭店"), "食品", False),
    ("H6231", 1, 3, ("茶文化",), ("茶馆", "茶楼"), "食品", False),
    ("C1391", 1, 0, ("食品",), (), "食品", False),
    ("C1392", 1, 1, ("豆制品",), ("豆腐坊",), "食品", False),
    ("C1431", 1, 1, ("面业",), ("面条加工坊",), "食品", False),
    ("C1469", 2, 0, ("火锅食品", "调味品"), (), "食品", False),
    ("F5251", 2, 2, ("大药房", "医药"), ("药店",), "药品", False),
    ("C2740", 1, 0, ("制药", "药业"), (), "药品", False),
    ("Q8425", 0, 2, (), ("诊所",), "药品", False),
    ("C3435", 1, 0, ("电梯",), (), "特种设备", False),
    ("F5265", 1, 0, ("石油", "能源"), (), "特种设备", False),
    ("I6513", 5, 0, ("科技", "信息技术", "软件"), (), "其他", True),
    ("I6432", 2, 0, ("网络科技", "电子商务"), (), "其他", True),
    ("M7517", 1, 0, ("新能源科技",), (), "其他", True),
    ("E4710", 3, 0, ("建筑工程", "建设工程"), (), "其他", False),
    ("F5165", 3, 2, ("建材",), ("建材经营部",), "其他", False),
    ("F5271", 1, 5, ("五金",), ("五金店", "五金经营部"), "其他", False),
    ("C3670", 2, 0, ("汽车配件", "机械制造"), (), "特种设备", False),
    ("O8111", 2, 4, ("汽车维修", "汽车服务"), ("汽修店", "汽车美容店"), "其他", False),
    ("O8040", 1, 7, ("美容美发",), ("理发店", "美容院", "美发店"), "其他", False),
    ("G5431", 3, 2, ("物流", "货运"), ("货运部",), "其他", False),
    ("K7020", 2, 0, ("物业管理",), (), "特种设备", False),
    ("L7259", 2, 1, ("文化传媒", "广告"), ("广告部", "图文店"), "其他", False),
    ("L7243", 2, 0, ("企业管理咨询", "财务咨询"), (), "其他", False),
    ("H6129", 1, 3, ("酒店管理",), ("旅馆", "宾馆"), "食品", False),
    ("R9011", 1, 1, ("娱乐",), ("KTV",), "其他", False),
)
# 农民专业合作社: (class, what it grows or raises)
COOP_PROFILES = (
    ("A0141", "蔬菜种植"), ("A0153", "柑橘种植"), ("A0151", "李子种植"), ("A0313", "生猪养殖"),
    ("A0171", "中药材种植"), ("A0412", "水产养殖"), ("A0169", "花椒种植"),
)

ENTITY_TYPES = (("1", "企业", 50), ("2", "个体工商户", 47), ("3", "农民专业合作社", 3))
STATUSES = (("存续", 66), ("在业", 24), ("停业", 2), ("吊销", 3), ("注销", 4), ("迁出", 1))
# Spot-check results by registration status (standard codes, credit/data/result_codes.csv).
STATUS_RESULT = {"停业": "7", "注销": "9", "吊销": "10", "迁出": "12"}
RESULTS = (
    ("1", 55), ("E", 12), ("F", 8), ("A;2;B", 4), ("A;2;C", 2), ("A;2;6", 5), ("A;2;D", 2),
    ("A;3", 4), ("A;4", 3), ("A;5", 2), ("A;2;B;3", 1), ("8", 1), ("7", 1),
)
RECORD_KINDS = (
    ("penalty", 30), ("complaint", 18), ("spot_check", 17), ("annual_report_late", 9),
    ("abnormal_in", 10), ("commendation", 6), ("commitment_breach", 4), ("serious_in", 2),
)
GROUNDS = (
    ("未按规定报送年度报告", 45), ("未按规定公示即时信息", 10),
    ("公示信息隐瞒真实情况弄虚作假", 5), ("通过登记的住所或者经营场所无法联系", 40),
)
SEVERITIES = (("一般", 80), ("较重", 15), ("严重", 5))

DEPARTMENTS = (
    ("SCJG", "市场监督管理局"), ("WJW", "卫生健康委员会"), ("YJJ", "应急管理局"),
    ("STHJ", "生态环境局"), ("JTJ", "交通运输局"), ("WHLY", "文化和旅游委员会"),
)
# Items per department: (name, category, legal basis, kind, entity types, industries, methods)
ITEM_TEMPLATES = {
    "SCJG": (
        ("企业公示信息的检查", "企业信息公示", "《企业信息公示暂行条例》第十四条", "一般", "企业;农民专业合作社", "", "书面;网络"),
        ("个体工商户年度报告的检查", "企业信息公示", "《个体工商户条例》第三十二条", "一般", "个体工商户", "", "书面"),
        ("登记事项的检查", "登记事项监管", "《中华人民共和国市场主体登记管理条例》第三十八条", "一般", "", "", "现场"),
        ("食品生产者生产活动的检查", "食品安全", "《中华人民共和国食品安全法》第一百一十条", "重点", "企业", "C13;C14", "现场"),
        ("食品销售者经营活动的检查", "食品安全", "《中华人民共和国食品安全法》第一百一十条", "一般", "", "F52", "现场"),
        ("餐饮服务提供者的检查", "食品安全", "《食品生产经营监督检查管理办法》第十条", "一般", "", "H62", "现场"),
        ("特种设备使用单位的检查", "特种设备安全", "《中华人民共和国特种设备安全法》第五十七条", "重点", "企业", "", "现场"),
        ("生产领域产品质量的检查", "产品质量", "《中华人民共和国产品质量法》第十五条", "一般", "企业", "C", "现场"),
        ("计量器具使用的检查", "计量监督", "《中华人民共和国计量法》第十八条", "一般", "", "F52;H62", "现场"),
        ("广告发布行为的检查", "广告监管", "《中华人民共和国广告法》第四十九条", "一般", "企业", "L725", "网络"),
        ("网络交易经营者的检查", "网络交易监管", "《网络交易监督管理办法》第三十八条", "一般", "企业", "I64", "网络"),
        ("药品零售企业的检查", "药品安全", "《中华人民共和国药品管理法》第九十九条", "重点", "", "F525", "现场"),
        ("价格行为的检查", "价格监督", "《中华人民共和国价格法》第三十四条", "一般", "", "", "现场;书面"),
    ),
    "WJW": (
        ("公共场所卫生的检查", "公共卫生", "《公共场所卫生管理条例》第十条", "一般", "", "O80;H61", "现场"),
        ("医疗机构依法执业的检查", "医疗卫生", "《医疗机构管理条例》第四十条", "重点", "", "Q84", "现场"),
        ("用人单位职业卫生的检查", "职业卫生", "《中华人民共和国职业病防治法》第六十二条", "一般", "企业", "C", "现场"),
        ("生活饮用水卫生的检查", "公共卫生", "《生活饮用水卫生监督管理办法》第十六条", "一般", "企业", "", "现场"),
    ),
    "YJJ": (
        ("工贸企业安全生产的检查", "安全生产", "《中华人民共和国安全生产法》第六十五条", "一般", "企业", "C", "现场"),
        ("危险化学品经营单位的检查", "危险化学品", "《危险化学品安全管理条例》第六条", "重点", "企业", "F516;F5265", "现场"),
        ("建筑施工安全生产的检查", "安全生产", "《中华人民共和国安全生产法》第六十五条", "一般", "企业", "E", "现场"),
    ),
    "STHJ": (
        ("排污许可执行情况的检查", "排污许可", "《排污许可管理条例》第二十八条", "一般", "企业", "C", "现场;书面"),
        ("建设项目环境保护设施的检查", "建设项目环境管理", "《建设项目环境保护管理条例》第十九条", "一般", "企业", "E", "现场"),
        ("餐饮油烟排放的检查", "大气污染防治", "《中华人民共和国大气污染防治法》第八十一条", "一般", "", "H62", "现场"),
    ),
    "JTJ": (
        ("道路货物运输经营的检查", "道路运输", "《中华人民共和国道路运输条例》第六十一条", "一般", "", "G54", "现场;书面"),
        ("机动车维修经营的检查", "机动车维修", "《机动车维修管理规定》第四十七条", "一般", "", "O811", "现场"),
    ),
    "WHLY": (
        ("娱乐场所经营的检查", "文化市场", "《娱乐场所管理条例》第三十五条", "一般", "", "R90", "现场"),
        ("旅行社经营的检查", "旅游市场", "《旅行社条例》第四十一条", "一般", "企业", "L7291", "现场;书面"),
        ("网络文化经营单位的检查", "文化市场", "《互联网文化管理暂行规定》第二十条", "一般", "企业", "I64", "网络"),
    ),
}

# Share of each department among inspectors (market regulation has most of them).
DEPARTMENT_WEIGHT = {"SCJG": 60, "WJW": 12, "YJJ": 10, "STHJ": 8, "JTJ": 6, "WHLY": 4}

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: digits and A-Z except I, O, Z, S, V
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
MASK64 = (1 << 64) - 1
MAX_ENTERPRISES = 10**8
# Organisation codes before and after 三证合一 (October 2015): 8 digits, or MA + 6 characters.
NEW_ERA = dt.date(2015, 10, 1)
OLD_ERA = dt.date(1993, 1, 1)

ENTERPRISE_HEADER = (
    "uscc", "name", "entity_type", "legal_rep", "registered_on", "status", "district_code",
    "station", "industry_code", "address", "new_economy_since", "key_supervision",
)
RECORD_HEADER = (
    "uscc", "kind", "severity", "sector", "ground", "substantiated", "result_codes",
    "occurred_on", "department", "document_no", "effective_until",
)
DEPARTMENT_HEADER = ("code", "name")
ITEM_HEADER = ("code", "name", "category", "department", "legal_basis", "kind", "entity_types", "industries", "method", "version")
INSPECTOR_HEADER = (
    "inspector_id", "name", "department", "certificate_no", "certificate_expires", "qualifications",
    "district_code", "station", "status", "leave", "conflicts",
)

# Record kinds as the import files write them (credit/enums.py labels).
KIND_LABEL = {
    "penalty": "行政处罚", "abnormal_in": "列入经营异常名录", "abnormal_out": "移出经营异常名录",
    "serious_in": "列入严重违法失信名单", "serious_out": "移出严重违法失信名单", "complaint": "投诉举报",
    "annual_report_late": "未按时年报", "spot_check": "抽查结果", "commitment_breach": "违背信用承诺",
    "commendation": "表彰",
}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def picker(pairs: Sequence[tuple[Any, float]], size: int = 1000) -> list[Any]:
    """A lookup list where each value fills slots in proportion to its weight: ``t[int(random() * len(t))]``."""
    total = sum(w for _, w in pairs if w > 0)
    table: list[Any] = []
    for value, weight in pairs:
        if weight > 0:
            table.extend([value] * max(1, round(size * weight / total)))
    return table


def mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def gb11714_check(code8: str) -> str:
    """Check character of a GB 11714 organisation code (the 17th character of a USCC)."""
    total = sum(int(c, 36) * w for c, w in zip(code8, _GB11714_WEIGHTS))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def permute(index: int, half: int, keys: Sequence[int]) -> int:
    """A keyed permutation of [0, half**2): a Feistel network on the two base-``half`` digits.

    Each round maps (left, right) to (right, left + F(right) mod half), a bijection whatever
    F is, so distinct indexes always give distinct organisation codes, in a random-looking order.
    """
    left, right = divmod(index, half)
    for k in keys:
        left, right = right, (left + (((right + k) * 2654435761) >> 11)) % half
    return left * half + right


class UsccMaker:
    """Fast USCCs: 9 + type digit + district + organisation code (8 + GB 11714 check) + GB 32100 check.

    The check characters are computed from precomputed partial weighted sums (both checks
    are linear), about 5x faster than ``stdnum.cn.uscc.calc_check_digit``; every 1024th
    code is cross-checked with stdnum so a slip here can never produce invalid codes.
    """

    W32100 = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

    def __init__(self) -> None:
        a = USCC_ALPHABET
        val = {c: i for i, c in enumerate(a)}  # GB 32100 value of a character
        org = {c: int(c, 36) for c in a}  # GB 11714 value (A=10 ... Z=35)
        w11, w32 = _GB11714_WEIGHTS, self.W32100
        # Small tables (they stay in the CPU cache): pairs of characters and their weighted
        # sums at each even position of the organisation code, for both check characters.
        self.pairs = [x + y for x in a for y in a]
        self.digit_pairs = ["%02d" % n for n in range(100)]

        def partial(strings: list[str], start: int) -> list[tuple[int, int]]:
            """(GB 11714 sum, GB 32100 sum) of each string placed at organisation-code position ``start``."""
            return [
                (sum(org[c] * w11[start + k] for k, c in enumerate(t)), sum(val[c] * w32[8 + start + k] for k, c in enumerate(t)))
                for t in strings
            ]

        # New style: "MA" + 3 pairs; old style: 4 digit pairs.
        self.ma = (org["M"] * w11[0] + org["A"] * w11[1], val["M"] * w32[8] + val["A"] * w32[9])
        self.p2, self.p4, self.p6 = (partial(self.pairs, k) for k in (2, 4, 6))
        self.d0, self.d2, self.d4, self.d6 = (partial(self.digit_pairs, k) for k in (0, 2, 4, 6))
        # The organisation-code check character at position 17 (index 16), by its GB 11714 value.
        self.check11 = {}
        for total in range(11):
            c9 = 11 - total % 11
            char = "X" if c9 == 10 else "0" if c9 == 11 else str(c9)
            self.check11[total] = (char, val[char] * w32[16])
        self.made = 0

    def prefix(self, digit: str, district: str) -> tuple[str, int]:
        """The first 8 characters and their weighted sum."""
        text = "9" + digit + district
        return text, sum(USCC_ALPHABET.index(c) * w for c, w in zip(text, self.W32100))

    def make(self, prefix: tuple[str, int], new_style: bool, v: int) -> str:
        """The USCC for ``prefix`` and organisation-code number ``v``.

        New style: "MA" + 6 characters from ``v`` in [0, 31**6); old style: 8 digits from
        ``v`` in [0, 10**8). Check sums come from per-position tables of character pairs.
        """
        if new_style:
            a, b, c = v // 923521, v // 961 % 961, v % 961
            pairs = self.pairs
            code8 = "MA" + pairs[a] + pairs[b] + pairs[c]
            (ma11, ma32), (a11, a32), (b11, b32), (c11, c32) = self.ma, self.p2[a], self.p4[b], self.p6[c]
            s11, s32 = ma11 + a11 + b11 + c11, ma32 + a32 + b32 + c32
        else:
            a, b, c, d = v // 1000000, v // 10000 % 100, v // 100 % 100, v % 100
            code8 = "%08d" % v
            (a11, a32), (b11, b32), (c11, c32), (d11, d32) = self.d0[a], self.d2[b], self.d4[c], self.d6[d]
            s11, s32 = a11 + b11 + c11 + d11, a32 + b32 + c32 + d32
        c9, w = self.check11[s11 % 11]
        uscc = prefix[0] + code8 + c9 + USCC_ALPHABET[(31 - (prefix[1] + s32 + w) % 31) % 31]
        self.made += 1
        if self.made & 1023 == 1:
            assert c9 == gb11714_check(code8) and uscc[17] == calc_check_digit(uscc[:17]), uscc
        return uscc


class Progress:
    """Occasional progress lines on stderr."""

    def __init__(self, what: str, total: int, quiet: bool) -> None:
        self.what, self.total, self.quiet = what, total, quiet
        self.started = self.last = time.perf_counter()

    def update(self, done: int, rows: int) -> None:
        now = time.perf_counter()
        if not self.quiet and now - self.last >= 2.0:
            self.last = now
            rate = rows / (now - self.started)
            print(f"  {self.what}: {done:,}/{self.total:,} ({rows:,} rows, {rate:,.0f} rows/s)", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------

class Generator:
    """All generated data for one set of arguments; each file is written by one method."""

    def __init__(
        self,
        *,
        enterprises: int,
        records_per_enterprise: float,
        inspectors: int,
        items: int,
        departments: int,
        districts: Sequence[str] | None,
        seed: int,
        today: dt.date,
        quiet: bool = True,
        inspector_departments: dict[str, float] | None = None,
    ) -> None:
        if not 0 <= enterprises <= MAX_ENTERPRISES:
            raise ValueError(f"--enterprises must be between 0 and {MAX_ENTERPRISES:,}")
        if records_per_enterprise < 0:
            raise ValueError("--records-per-enterprise must not be negative")
        if not 1 <= departments <= len(DEPARTMENTS):
            raise ValueError(f"--departments must be between 1 and {len(DEPARTMENTS)}")
        if inspectors < 0 or items < 0:
            raise ValueError("--inspectors and --items must not be negative")
        if today < dt.date(2000, 1, 1):
            raise ValueError("--today must be 2000-01-01 or later")
        known = dict(chongqing_districts())
        codes = list(districts) if districts else list(known)
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ValueError(f"unknown district code(s) {', '.join(unknown)}; use Chongqing codes: {', '.join(known)}")
        if len(set(codes)) != len(codes):
            raise ValueError("--districts lists a code twice")
        self.n_enterprises = enterprises
        self.records_mean = records_per_enterprise
        self.n_inspectors = inspectors
        self.n_items = items
        self.departments = DEPARTMENTS[:departments]
        self.districts = codes
        self.district_name = known
        self.today = today
        self.quiet = quiet
        # Relative number of inspectors per department (the named ones replace the default weights).
        in_use = [c for c, _ in self.departments]
        unknown = [c for c in inspector_departments or {} if c not in in_use]
        if unknown:
            raise ValueError(f"--inspector-departments: {', '.join(unknown)} not among the departments generated ({', '.join(in_use)})")
        if any(w < 0 for w in (inspector_departments or {}).values()):
            raise ValueError("--inspector-departments: weights must not be negative")
        self.inspector_weight = {c: (inspector_departments or {}).get(c, DEPARTMENT_WEIGHT[c]) for c in in_use}
        if inspectors and not any(self.inspector_weight.values()):
            raise ValueError("--inspector-departments: at least one department needs a positive weight")

        # Sub-streams, always drawn in this order so each file depends only on what it uses.
        master = random.Random(seed)
        self.key = master.getrandbits(64)
        self.seed_enterprises = master.getrandbits(64)
        self.seed_records = master.getrandbits(64)
        self.seed_inspectors = master.getrandbits(64)
        self.seed_items = master.getrandbits(64)
        self.seed_places = master.getrandbits(64)

        # Index -> organisation code permutation keys (unique codes without storing any).
        self.round_keys = tuple(mix64(self.key ^ k) >> 40 for k in range(1, 5))
        self.uscc = UsccMaker()
        # (district, entity type label, USCC prefix) by weight: one lookup per enterprise.
        self.core_table = picker([
            ((c, label, self.uscc.prefix(digit, c)), DISTRICT_WEIGHT.get(c, 1) * w)
            for c in codes for digit, label, w in ENTITY_TYPES
        ], 16384)
        self.new_era_share = 0 if today < NEW_ERA + dt.timedelta(days=90) else 700  # of 1024

        # Stations (市场监管所) and towns per district, from their own stream.
        places = random.Random(self.seed_places)
        self.towns: dict[str, list[str]] = {}
        self.stations: dict[str, list[str]] = {}
        for code, name in known.items():
            if code in TOWNS:
                towns = TOWNS[code].split()
            else:
                towns = places.sample(GENERIC_TOWNS, places.randint(4, 8))
            self.towns[code] = towns
            short = name if len(name) <= 4 else name[:2] + ("县" if name.endswith("县") else "")
            self.stations[code] = [f"{short}市场监管局{t}所" for t in towns[: max(4, len(towns) * 2 // 3)]]

        # Name pools (one lookup per name part).
        self.surnames = picker(SURNAMES, 2000)
        self.n_surnames = len(self.surnames)
        self.given_names = [x + y for x in GIVEN for y in GIVEN] + GIVEN * (len(GIVEN) // 3)
        self.n_given = len(self.given_names)
        self.trade_names = [x + y for x in TRADE_CHARS for y in TRADE_CHARS if x != y]

        # Dates as text, by ordinal, far enough ahead for effective_until and certificate expiries.
        self.base = OLD_ERA.toordinal()
        self.today_ord = today.toordinal()
        self.dates = [dt.date.fromordinal(o).isoformat() for o in range(self.base, self.today_ord + 6 * 366)]

    # -- enterprises ------------------------------------------------------------------------

    def core(self, index: int) -> tuple[str, str, str, bool]:
        """(USCC, entity type label, district code, registered after 三证合一) of enterprise ``index``.

        A pure function of the index and the seed, so records and inspectors' conflicts can
        name generated enterprises without storing them; the organisation code is a
        permutation of the index, so USCCs never repeat.
        """
        # mix64(key ^ index), inlined
        h = ((self.key ^ index) + 0x9E3779B97F4A7C15) & MASK64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK64
        h ^= h >> 31
        district, label, prefix = self.core_table[h % len(self.core_table)]
        if ((h >> 40) & 1023) < self.new_era_share:
            return self.uscc.make(prefix, True, permute(index, 29791, self.round_keys)), label, district, True
        return self.uscc.make(prefix, False, permute(index, 10000, self.round_keys)), label, district, False

    def person(self, r: Any) -> str:
        """A Chinese personal name: surname by frequency, one or (3 in 4) two given characters."""
        return self.surnames[int(r() * self.n_surnames)] + self.given_names[int(r() * self.n_given)]

    def write_enterprises_and_records(self, out: Path) -> tuple[int, int]:
        """Stream enterprises.csv and records.csv together; returns (enterprises, records)."""
        rng = random.Random(self.seed_enterprises)
        r = rng.random
        profiles_e = picker([(p, p[1]) for p in PROFILES], 2000)
        profiles_i = picker([(p, p[2]) for p in PROFILES], 2000)
        statuses = picker(STATUSES)
        trade, n_trade = self.trade_names, len(self.trade_names)
        surnames, n_surnames, given, n_given = self.surnames, self.n_surnames, self.given_names, self.n_given
        n_pe, n_pi, n_st = len(profiles_e), len(profiles_i), len(statuses)
        n_roads = len(ROADS)
        places = {c: (self.district_name[c], self.towns[c], len(self.towns[c]), self.stations[c], len(self.stations[c]))
                  for c in self.districts}
        dates = self.dates
        base = self.base
        today_ord = self.today_ord
        old_lo, old_hi = OLD_ERA.toordinal(), min(NEW_ERA.toordinal() - 1, today_ord)
        new_lo = NEW_ERA.toordinal()
        core = self.core
        records = RecordWriter(self)
        progress = Progress("enterprises", self.n_enterprises, self.quiet)
        n_records = 0
        # Binary files, each batch of lines encoded at once (twice as fast as a text wrapper).
        with (out / "enterprises.csv").open("wb") as fe, (out / "records.csv").open("wb") as fr:
            # Plain joins instead of csv.writer (3-4x faster): no generated value can contain
            # a comma, quote or line break (check_pools() verifies every text pool).
            fe.write((",".join(ENTERPRISE_HEADER) + "\n").encode())
            records.start(fr)
            lines: list[str] = []
            for index in range(self.n_enterprises):
                uscc, etype, district, new_era = core(index)
                dname, ts, n_ts, sts, n_sts = places[district]
                town = ts[int(r() * n_ts)]
                person = surnames[int(r() * n_surnames)] + given[int(r() * n_given)]
                zihao = trade[int(r() * n_trade)]
                if new_era:
                    reg = new_lo + int((today_ord - new_lo + 1) * r() ** 0.8)
                else:
                    reg = old_lo + int((old_hi - old_lo + 1) * r() ** 0.6)
                if etype == "企业":
                    profile = profiles_e[int(r() * n_pe)]
                    words = profile[3]
                    word = words[int(r() * len(words))]
                    x = r()
                    if x < 0.72:
                        name = f"重庆{zihao}{word}有限公司"
                    elif x < 0.86:
                        name = f"重庆市{dname}{zihao}{word}有限公司"
                    elif x < 0.95:
                        name = f"重庆{zihao}{word}有限责任公司"
                    elif x < 0.97:
                        name = f"重庆{zihao}{word}股份有限公司"
                    else:
                        name = f"重庆{zihao}{word}有限公司{town}分公司"
                    industry = profile[0]
                elif etype == "个体工商户":
                    profile = profiles_i[int(r() * n_pi)]
                    shops = profile[4]
                    shop = shops[int(r() * len(shops))]
                    x = r()
                    if x < 0.5:
                        name = f"{dname}{person}{shop}"
                    elif x < 0.85:
                        name = f"{dname}{zihao}{shop}"
                    else:
                        name = f"{dname}{town}{zihao}{shop}"
                    industry = profile[0]
                else:
                    industry, produce = COOP_PROFILES[int(r() * len(COOP_PROFILES))]
                    profile = None
                    name = f"重庆市{dname}{town}{zihao}{produce}专业合作社"
                status = statuses[int(r() * n_st)]
                station = sts[int(r() * n_sts)] if r() < 0.97 else ""
                x = r()
                if x < 0.02:
                    address = ""
                else:
                    road = ROADS[int(r() * n_roads)]
                    number = 1 + int(r() * r() * 400)
                    y = r()
                    extra = "" if y < 0.5 else f"附{1 + int(r() * 30)}号" if y < 0.65 else f"{1 + int(r() * 12)}幢{1 + int(r() * 30)}-{1 + int(r() * 12)}"
                    address = f"重庆市{dname}{town}{road}{number}号{extra}"
                sector = profile[5] if profile else "食品"
                is_new = profile[6] if profile else False
                since = ""
                if r() < (0.25 if is_new else 0.01):
                    since = dates[reg + int((today_ord - reg + 1) * r()) - base]
                key = r() < (0.12 if sector in ("食品", "药品", "特种设备") else 0.03)
                legal_rep = person if r() < 0.99 else ""
                lines.append(f"{uscc},{name},{etype},{legal_rep},{dates[reg - base]},{status},{district},{station},"
                             f"{industry},{address},{since},{'是' if key else '否'}\n")
                if self.records_mean:
                    n_records += records.for_enterprise(uscc, district, reg, status, sector)
                    if len(records.lines) > 16384:
                        records.flush()
                if index & 4095 == 4095:
                    fe.write("".join(lines).encode())
                    lines.clear()
                    records.flush()
                    progress.update(index, index + n_records)
            fe.write("".join(lines).encode())
            records.flush()
        return self.n_enterprises, n_records

    # -- departments and items --------------------------------------------------------------

    def write_departments(self, out: Path) -> int:
        with (out / "departments.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(DEPARTMENT_HEADER)
            w.writerows(self.departments)
        return len(self.departments)

    def item_rows(self) -> list[tuple[str, ...]]:
        """The item list (small: kept in memory, inspectors' qualifications refer to it)."""
        rng = random.Random(self.seed_items)
        codes = [c for c, _ in self.departments]
        weights = [(c, DEPARTMENT_WEIGHT[c]) for c in codes]
        # Every department gets one item first (while there are enough), the rest by weight.
        owners = codes[: self.n_items] + rng.choices([c for c, _ in weights], [w for _, w in weights], k=max(0, self.n_items - len(codes)))
        used: dict[str, int] = {}
        version = str(self.today.year)
        rows = []
        for owner in owners:
            n = used.get(owner, 0)
            used[owner] = n + 1
            templates = ITEM_TEMPLATES[owner]
            name, category, basis, kind, entity_types, industries, methods = templates[n % len(templates)]
            if n >= len(templates):
                name = f"{name[:-3]}专项检查（{n // len(templates) + 1}）"
            rows.append((f"{owner}-{n + 1:02d}", name, category, owner, basis, kind, entity_types, industries, methods, version))
        order = {c: i for i, c in enumerate(codes)}
        rows.sort(key=lambda row: (order[row[3]], int(row[0].rsplit("-", 1)[1])))
        return rows

    def write_items(self, out: Path) -> int:
        rows = self.item_rows()
        with (out / "items.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(ITEM_HEADER)
            w.writerows(rows)
        return len(rows)

    # -- inspectors -------------------------------------------------------------------------

    def write_inspectors(self, out: Path) -> int:
        rng = random.Random(self.seed_inspectors)
        r = rng.random
        items = self.item_rows()
        quals: dict[str, list[str]] = {}
        for code, _, category, owner, *_ in items:
            names = quals.setdefault(owner, [])
            names.append(code)
            if category and category not in names:
                names.append(category)
        owners = picker([(c, self.inspector_weight[c]) for c, _ in self.departments])
        width = max(4, len(str(self.n_inspectors)))
        dates, base = self.dates, self.base
        rows = 0
        with (out / "inspectors.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(INSPECTOR_HEADER)
            for i in range(self.n_inspectors):
                dept = owners[int(r() * len(owners))]
                district = self.districts[int(r() * len(self.districts))]
                active = r() < 0.92
                cert_no = cert_expires = ""
                if active or r() < 0.7:
                    cert_no = f"渝{district}{int(r() * 100000):05d}"
                    if active:
                        # At least 3 years ahead, so a file generated with a fixed --today
                        # (examples/) keeps importing for years before a 在岗 certificate expires.
                        expires = self.today_ord + 1095 + int(r() * 1095)
                    else:
                        expires = self.today_ord - 700 + int(r() * 1000)
                    cert_expires = dates[expires - base]
                own = quals.get(dept, [])
                chosen = rng.sample(own, min(len(own), 1 + int(r() * 4))) if own else []
                station = ""
                if dept == "SCJG":
                    station = self.stations[district][int(r() * len(self.stations[district]))]
                leave = []
                if active and r() < 0.15:
                    start = self.today_ord - 20 + int(r() * 60)
                    for _ in range(1 + int(r() * 2)):
                        end = start + int(r() * 7)
                        leave.append(f"{dates[start - base]}..{dates[end - base]}")
                        start = end + 14 + int(r() * 90)
                conflicts = []
                if self.n_enterprises and r() < 0.12:
                    picked = {int(r() * self.n_enterprises) for _ in range(1 + int(r() * 3))}
                    conflicts = [self.core(k)[0] for k in sorted(picked)]
                w.writerow((
                    f"JC{i + 1:0{width}d}", self.person(r), dept, cert_no, cert_expires,
                    ";".join(chosen), district, station, "在岗" if active else "离岗", ";".join(leave), ";".join(conflicts),
                ))
                rows += 1
        return rows


class RecordWriter:
    """Credit records of one enterprise at a time (written right after it), as CSV lines."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.rng = random.Random(gen.seed_records)
        self.mean = gen.records_mean
        self.kinds = picker(RECORD_KINDS)
        self.results = picker(RESULTS)
        self.grounds = picker(GROUNDS)
        self.severities = picker(SEVERITIES)
        self.counters: dict[str, int] = {}  # document series -> last number
        self.window = 3 * 365
        # Department names and document-number series per district (渝沙市监处罚 ...).
        self.depts: dict[str, tuple[str, ...]] = {}
        for code, name in gen.district_name.items():
            a = DISTRICT_ABBR[code]
            self.depts[code] = (
                f"重庆市{name}市场监督管理局", f"国家税务总局重庆市{name}税务局", f"重庆市{name}人民法院",
                f"重庆市{name}生态环境局", f"重庆市{name}应急管理局", f"重庆市{name}卫生健康委员会",
                f"重庆市{name}人民政府",
                f"渝{a}市监处罚", f"渝{a}税稽罚", f"渝{a}环罚", f"渝{a}应急罚", f"渝{a}卫罚",
                f"渝{a}市监异列", f"渝{a}市监异移", f"渝{a}市监严列", f"渝{a}市监严移",
                f"渝{a}市监抽查", f"渝{a}市监诉", f"渝{a}府发", f"渝{a}市监发", f"渝{a}市监信诺",
            )
        # "〔2025〕" by day (aligned with gen.dates), and the 1 July dates up to today.
        self.year_brackets = [f"〔{d[:4]}〕" for d in gen.dates]
        first = gen.today_ord - self.window
        self.julys = [o for o in (dt.date(y, 7, 1).toordinal() for y in range(gen.today.year - 4, gen.today.year + 1))
                      if first <= o <= gen.today_ord]
        self.fh: Any = None
        self.lines: list[str] = []

    def start(self, fh: Any) -> None:
        self.fh = fh
        fh.write((",".join(RECORD_HEADER) + "\n").encode())

    def flush(self) -> None:
        self.fh.write("".join(self.lines).encode())
        self.lines.clear()

    def for_enterprise(self, uscc: str, district: str, reg: int, status: str, sector: str) -> int:
        """Queue this enterprise's records; returns how many.

        Document numbers (渝沙市监处罚〔2025〕123号) count up per series and year, so they never
        repeat; records without one are kept distinct in content (kind, date, department...).
        """
        r = self.rng.random
        # Lognormal rate with the requested mean, stochastically rounded: many 0, a long tail.
        lam = self.mean * math.exp(1.5 * self.rng.gauss(0.0, 1.0) - 1.125)
        count = min(int(lam + r()), 400)
        if not count:
            return 0
        g = self.gen
        dates, years, base, today = g.dates, self.year_brackets, g.base, g.today_ord
        lo = max(reg, today - self.window)
        span = today - lo + 1
        (scjg, tax, court, sthj, yjj, wjw, gov, p_scjg, p_tax, p_sthj, p_yjj, p_wjw,
         ab_in, ab_out, se_in, se_out, spot, cpl, gov_doc, scjg_doc, cb) = self.depts[district]
        counters = self.counters
        out = self.lines
        start = len(out)
        end = start + count
        seen: set[tuple[Any, ...]] = set()
        kinds, n_kinds = self.kinds, len(self.kinds)
        severities, n_sev = self.severities, len(self.severities)
        while len(out) < end:
            kind = kinds[int(r() * n_kinds)]
            day = lo + int(r() * span)
            occurred = dates[day - base]
            if kind == "penalty" or kind == "annual_report_late":
                if kind == "annual_report_late":
                    # Reports are due on 30 June; lateness is recorded on 1 July of a year in the window.
                    julys = [o for o in self.julys if lo <= o <= day]
                    if julys:
                        occurred = dates[julys[int(r() * len(julys))] - base]
                        key = ("late", occurred)
                        if key not in seen:
                            seen.add(key)
                            out.append(f"{uscc},未按时年报,,,,,,{occurred},{scjg},,\n")
                            continue
                x = r()
                severity = severities[int(r() * n_sev)]
                if x < 0.85:
                    dept, prefix = scjg, p_scjg
                    sec = sector if r() < 0.7 else ("特种设备" if r() < 0.2 else "其他")
                elif x < 0.9:
                    dept, prefix, sec = tax, p_tax, "其他"
                elif x < 0.94:
                    dept, prefix, sec = sthj, p_sthj, "其他"
                elif x < 0.97:
                    dept, prefix, sec = yjj, p_yjj, "特种设备" if r() < 0.3 else "其他"
                else:
                    dept, prefix, sec = wjw, p_wjw, "药品" if sector == "药品" else "其他"
                until = dates[day + (365 if severity == "一般" else 1095) - base] if r() < 0.9 else ""
                series = prefix + years[day - base]
                n = counters[series] = counters.get(series, 0) + 1
                out.append(f"{uscc},行政处罚,{severity},{sec},,,,{occurred},{dept},{series}{n}号,{until}\n")
            elif kind == "complaint":
                x = r()
                dept = scjg if x < 0.5 else "全国12315平台" if x < 0.8 else "重庆市12345政务服务便民热线"
                substantiated = "是" if r() < 0.35 else "否"
                if r() < 0.3:
                    series = cpl + years[day - base]
                    n = counters[series] = counters.get(series, 0) + 1
                    number = f"{series}{n}号"
                else:
                    number = ""
                    key = ("complaint", day, dept, substantiated)
                    if key in seen:
                        continue
                    seen.add(key)
                out.append(f"{uscc},投诉举报,,,,{substantiated},,{occurred},{dept},{number},\n")
            elif kind == "spot_check":
                codes = STATUS_RESULT.get(status) if r() < 0.8 else None
                codes = codes or self.results[int(r() * len(self.results))]
                x = r()
                dept = scjg if x < 0.8 else wjw if x < 0.9 else yjj
                if r() < 0.5:
                    series = spot + years[day - base]
                    n = counters[series] = counters.get(series, 0) + 1
                    number = f"{series}{n}号"
                else:
                    number = ""
                    key = ("spot", day, dept, codes)
                    if key in seen:
                        continue
                    seen.add(key)
                out.append(f"{uscc},抽查结果,,,,,{codes},{occurred},{dept},{number},\n")
            elif kind == "abnormal_in":
                ground = self.grounds[int(r() * len(self.grounds))]
                series = ab_in + years[day - base]
                n = counters[series] = counters.get(series, 0) + 1
                out.append(f"{uscc},列入经营异常名录,,,{ground},,,{occurred},{scjg},{series}{n}号,\n")
                if len(out) < end and day < today and r() < 0.45:
                    out_day = day + 1 + int(r() * min(today - day, 400))
                    series = ab_out + years[out_day - base]
                    n = counters[series] = counters.get(series, 0) + 1
                    out.append(f"{uscc},移出经营异常名录,,,,,,{dates[out_day - base]},{scjg},{series}{n}号,\n")
            elif kind == "serious_in":
                series = se_in + years[day - base]
                n = counters[series] = counters.get(series, 0) + 1
                out.append(f"{uscc},列入严重违法失信名单,,,,,,{occurred},{scjg},{series}{n}号,{dates[day + 1095 - base]}\n")
                if len(out) < end and day < today and r() < 0.2:
                    out_day = day + 1 + int(r() * (today - day))
                    series = se_out + years[out_day - base]
                    n = counters[series] = counters.get(series, 0) + 1
                    out.append(f"{uscc},移出严重违法失信名单,,,,,,{dates[out_day - base]},{scjg},{series}{n}号,\n")
            elif kind == "commendation":
                by_government = r() < 0.5
                dept = gov if by_government else scjg
                until = dates[day + 365 * (1 + int(r() * 2)) - base]
                if r() < 0.7:
                    series = (gov_doc if by_government else scjg_doc) + years[day - base]
                    n = counters[series] = counters.get(series, 0) + 1
                    number = f"{series}{n}号"
                else:
                    number = ""
                    key = ("commendation", day, dept, until)
                    if key in seen:
                        continue
                    seen.add(key)
                out.append(f"{uscc},表彰,,,,,,{occurred},{dept},{number},{until}\n")
            else:  # commitment_breach
                x = r()
                dept = scjg if x < 0.6 else tax if x < 0.85 else court
                until = dates[day + 365 - base] if r() < 0.8 else ""
                if dept is scjg and r() < 0.6:
                    series = cb + years[day - base]
                    n = counters[series] = counters.get(series, 0) + 1
                    number = f"{series}{n}号"
                else:
                    number = ""
                    key = ("breach", day, dept, until)
                    if key in seen:
                        continue
                    seen.add(key)
                out.append(f"{uscc},违背信用承诺,,,,,,{occurred},{dept},{number},{until}\n")
        return len(out) - start


def check_pools() -> None:
    """Every text a row is built from must be CSV-safe, as rows are written with plain joins."""
    texts: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, (tuple, list)):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                collect(k)
                collect(v)

    for pool in (chongqing_districts(), TOWNS, GENERIC_TOWNS, ROADS, SURNAMES, GIVEN, TRADE_CHARS, PROFILES,
                 COOP_PROFILES, ENTITY_TYPES, STATUSES, STATUS_RESULT, RESULTS, GROUNDS, SEVERITIES, DISTRICT_ABBR, KIND_LABEL):
        collect(pool)
    bad = [t for t in texts if any(c in t for c in ',"\r\n')]
    if bad:
        raise ValueError(f"text pools contain CSV special characters: {bad[:5]}")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None, default_out: Path = Path("generated")) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enterprises", type=int, default=1000, help="number of enterprises (default 1000)")
    p.add_argument("--records-per-enterprise", type=float, default=3.0, metavar="MEAN",
                   help="mean credit records per enterprise, skewed (lognormal): many have none (default 3)")
    p.add_argument("--inspectors", type=int, default=50, help="number of inspectors (default 50)")
    p.add_argument("--items", type=int, default=20, help="number of spot-check items (default 20)")
    p.add_argument("--departments", type=int, default=6, help=f"number of departments, 1-{len(DEPARTMENTS)} (default 6)")
    p.add_argument("--districts", default="", metavar="CODE,CODE,...",
                   help="Chongqing district codes to use (default: all 38 of the shipped list)")
    p.add_argument("--seed", type=int, default=1, help="random seed; same arguments give identical files (default 1)")
    p.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today(), metavar="YYYY-MM-DD",
                   help="no generated event is after this date (default: today)")
    p.add_argument("--out", type=Path, default=default_out, metavar="DIR", help=f"output directory (default {default_out})")
    p.add_argument("--inspector-departments", type=department_weights, default=None, metavar="CODE=WEIGHT,...",
                   help="relative number of inspectors per department; departments not named keep their default "
                        "(" + ",".join(f"{c}={w}" for c, w in DEPARTMENT_WEIGHT.items()) + ")")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p.parse_args(argv)


def department_weights(text: str) -> dict[str, float]:
    """``SCJG=70,WJW=12`` as {"SCJG": 70.0, "WJW": 12.0}."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        code, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = float("nan")
        if not sep or not code.strip() or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"not CODE=WEIGHT: {part!r}")
        out[code.strip()] = value
    return out


def generate(args: argparse.Namespace) -> dict[str, int]:
    """Write the five files into ``args.out``; returns rows per file."""
    gen = Generator(
        enterprises=args.enterprises, records_per_enterprise=args.records_per_enterprise,
        inspectors=args.inspectors, items=args.items, departments=args.departments,
        districts=[c.strip() for c in args.districts.split(",") if c.strip()] or None,
        seed=args.seed, today=args.today, quiet=args.quiet, inspector_departments=args.inspector_departments,
    )
    check_pools()
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {"departments": gen.write_departments(args.out), "items": gen.write_items(args.out)}
    counts["enterprises"], counts["records"] = gen.write_enterprises_and_records(args.out)
    counts["inspectors"] = gen.write_inspectors(args.out)
    return counts


def main(argv: Sequence[str] | None = None, default_out: Path = Path("generated")) -> int:
    args = parse_args(argv, default_out)
    started = time.perf_counter()
    try:
        counts = generate(args)
    except ValueError as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    if not args.quiet:
        summary = ", ".join(f"{n:,} {k}" for k, n in counts.items())
        print(f"wrote {summary} to {args.out} in {seconds:.1f}s ({total / seconds:,.0f} rows/s)", file=sys.stderr)
    return 0

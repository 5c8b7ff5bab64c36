"""The relevance test set: plausible local policy documents and the questions
residents ask, each with the documents it must find.

The documents live in app/policies/samples.py (invented issuers' numbers,
amounts and procedures in the style of a city's notices); they copy no real
document. The benchmark (bench/policy_search.py) generates its 10,000
policies from them.
"""

from __future__ import annotations

from app.policies.samples import DOCS, Doc

__all__ = ["DOCS", "QUERIES", "Doc"]


QUERIES: list[tuple[str, list[str]]] = [
    ("医保报销", ["m1"]),
    ("医保怎么报销", ["m1"]),
    ("住院能报多少", ["m1"]),
    ("医保缴费多少钱", ["m2"]),
    ("在外地看病怎么报销", ["m4"]),
    ("慢性病门诊报销", ["m3"]),
    ("大病二次报销", ["m5"]),
    ("醫保報銷", ["m1"]),
    ("养老认证在哪办", ["a1"]),
    ("養老認證怎麼辦", ["a1"]),
    ("高龄补贴", ["a2"]),
    ("80岁老人补贴", ["a2"]),
    ("８０岁老人每月补贴多少", ["a2"]),
    ("老人吃饭优惠", ["a5"]),
    ("家里老人失能了有什么补贴", ["a3"]),
    ("老年证怎么办理", ["a6"]),
    ("低保申请条件", ["s1"]),
    ("低保　怎么申请", ["s1"]),
    ("最低生活保障", ["s1"]),
    ("家里突发困难能申请救助吗", ["s3"]),
    ("特困供养", ["s2"]),
    ("残疾人补贴", ["d1"]),
    ("残疾证怎么办", ["d2"]),
    ("创业贷款", ["j1"]),
    ("失业金怎么领", ["j2"]),
    ("灵活就业社保补贴", ["j3"]),
    ("公租房申请", ["h1"]),
    ("公积金提取", ["h2"]),
    ("老楼加装电梯", ["h3"]),
    ("孩子上小学报名", ["e1"]),
    ("孩子助学金", ["e2"]),
    ("退伍军人优待证", ["v1"]),
    ("结婚登记要带什么", ["w1"]),
    ("离婚冷静期", ["w2"]),
    ("户口迁移", ["r1"]),
    ("居住证办理", ["r2"]),
    ("新生儿上户口", ["r3"]),
    ("身份证丢了补办", ["r4"]),
    ("生育津贴", ["f1"]),
    ("城乡居民养老保险交多少", ["a4"]),
    ("ＡＰＰ刷脸认证", ["a1"]),
]

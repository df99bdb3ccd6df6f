"""A deterministic look-alike set of quarterly reports (SEC Form 10-Q style) with analysts' questions.

Three fictional companies, four consecutive 10-Q filings each (12 PDFs, 9-12 pages, mostly tables),
named as EDGAR names them (`nwrb-20230701.pdf`), and 60-90 questions in the eval's JSON-lines format.
One model of quarterly figures per company feeds every filing, so a prior-year column equals the
current column of the filing a year earlier, and totals, margins and balance sheets add up.

    python -m tests.filings OUT_DIR [--seed N] [--browser [CHROMIUM]]   (from the repository root; or python tests/filings.py ...)

writes the PDFs, OUT_DIR/questions.jsonl and OUT_DIR/filings.json (company, ticker, period end and
fiscal quarter of each filing). With --browser the same filings are written as HTML pages, the way
EDGAR serves them, and printed to PDF by headless Chromium: tables laid out by a browser, as in the
PDFs people save from a filing's page, rather than by reportlab.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth"}
MONTHS_WORD = {1: "Three", 2: "Six", 3: "Nine", 4: "Twelve"}


def long_date(d: date) -> str:
    return f"{d:%B} {d.day}, {d.year}"


def money(n: int) -> str:
    """A figure in millions as EDGAR prints it: 1,234; negatives in parentheses; zero as a dash."""
    if n == 0:
        return "\u2014"
    return f"({-n:,})" if n < 0 else f"{n:,}"


def last_saturday_of_september(year: int) -> date:
    d = date(year, 9, 30)
    return d - timedelta(days=(d.weekday() - 5) % 7)


# --------------------------------------------------------------------------------------- companies


@dataclass(frozen=True)
class Company:
    legal: str  # "Northwind Robotics, Inc."
    name: str  # "Northwind Robotics"
    short: str  # "Northwind"
    ticker: str
    calendar: str  # "calendar" or "52-53" (weeks ending on the last Saturday of September)
    filings: tuple[tuple[int, int], ...]  # (fiscal year, quarter) of each 10-Q in the set
    titled: tuple[bool, ...]  # whether each filing's PDF carries a metadata title
    state: str
    irs_number: str
    file_number: str
    address: str
    phone: str
    exchange: str
    industry: str
    revenue_word: str  # "net sales" / "revenue"
    lines: tuple[str, str]  # the two revenue lines
    cost_word: str  # "Cost of sales"
    gross_word: str  # "Gross margin"
    segment_word: str  # "region" / "segment"
    segments: tuple[tuple[str, float], ...]
    base_revenue: float  # millions a quarter, at the start of the model
    growth: float  # a year
    seasonal: tuple[float, float, float, float]
    line_share: float  # share of the first revenue line
    gross: tuple[float, float]  # gross margin ratio of each line
    rd: float
    sga: float
    tax_rate: float
    shares: int  # thousands, at the start
    price: float  # share price at the start
    dividend: float  # per share a quarter
    debt: int  # long-term debt at the start, millions
    cfo_title: str
    cfo: str
    ceo_title: str
    ceo: str
    products: str
    inputs: str
    customers: str


COMPANIES = (
    Company(
        legal="Northwind Robotics, Inc.", name="Northwind Robotics", short="Northwind", ticker="NWRB",
        calendar="52-53", filings=((2023, 3), (2024, 1), (2024, 2), (2024, 3)), titled=(True, False, True, False),
        state="Delaware", irs_number="94-3187220", file_number="001-38412",
        address="2100 Harbor Point Drive, San Jose, California 95134", phone="(408) 555-0190",
        exchange="The Nasdaq Stock Market LLC", industry="industrial automation",
        revenue_word="net sales", lines=("Products", "Services"), cost_word="Cost of sales", gross_word="Gross margin",
        segment_word="region",
        segments=(("Americas", 0.44), ("Europe", 0.27), ("Greater China", 0.17), ("Rest of Asia Pacific", 0.12)),
        base_revenue=1080.0, growth=0.09, seasonal=(1.06, 0.97, 0.98, 1.03), line_share=0.78, gross=(0.38, 0.66),
        rd=0.13, sga=0.12, tax_rate=0.165, shares=412_600, price=88.0, dividend=0.24, debt=2_250,
        cfo_title="Senior Vice President and Chief Financial Officer", cfo="Margaret E. Lindqvist",
        ceo_title="Chief Executive Officer", ceo="Daniel R. Okafor",
        products="collaborative robot arms, autonomous mobile robots and motion-control software",
        inputs="precision gearboxes, servo motors, sensors and semiconductors",
        customers="automotive, electronics and logistics customers",
    ),
    Company(
        legal="Halvard Foods Corporation", name="Halvard Foods", short="Halvard", ticker="HLVF",
        calendar="calendar", filings=((2023, 1), (2023, 2), (2023, 3), (2024, 1)), titled=(False, True, True, False),
        state="Minnesota", irs_number="41-0862514", file_number="001-09741",
        address="800 Nicollet Crossing, Minneapolis, Minnesota 55402", phone="(612) 555-0143",
        exchange="New York Stock Exchange", industry="packaged foods",
        revenue_word="net sales", lines=("Branded products", "Private label and co-manufacturing"),
        cost_word="Cost of products sold", gross_word="Gross profit", segment_word="segment",
        segments=(("North America Retail", 0.58), ("Foodservice", 0.25), ("International", 0.17)),
        base_revenue=2430.0, growth=0.04, seasonal=(0.97, 0.99, 1.01, 1.04), line_share=0.83, gross=(0.36, 0.18),
        rd=0.012, sga=0.19, tax_rate=0.225, shares=268_400, price=61.0, dividend=0.52, debt=4_100,
        cfo_title="Executive Vice President and Chief Financial Officer", cfo="Thomas J. Brekke",
        ceo_title="Chairman and Chief Executive Officer", ceo="Ingrid A. Solberg",
        products="cereals, frozen meals, snacks and baking mixes",
        inputs="grains, dairy, edible oils, sweeteners and packaging materials",
        customers="grocery retailers, club stores and foodservice distributors",
    ),
    Company(
        legal="Corvel Semiconductor Ltd.", name="Corvel Semiconductor", short="Corvel", ticker="CRVL",
        calendar="calendar", filings=((2023, 2), (2023, 3), (2024, 1), (2024, 2)), titled=(True, False, False, True),
        state="Bermuda", irs_number="98-1402277", file_number="001-40178",
        address="Clarendon House, 2 Church Street, Hamilton HM 11, Bermuda", phone="(441) 555-0122",
        exchange="The Nasdaq Stock Market LLC", industry="analog and mixed-signal semiconductors",
        revenue_word="revenue", lines=("Product revenue", "Licensing and royalty revenue"),
        cost_word="Cost of revenue", gross_word="Gross profit", segment_word="region",
        segments=(("United States", 0.21), ("China", 0.34), ("Taiwan", 0.18), ("Europe", 0.15), ("Other", 0.12)),
        base_revenue=640.0, growth=0.14, seasonal=(0.96, 1.0, 1.03, 1.01), line_share=0.91, gross=(0.55, 0.93),
        rd=0.21, sga=0.09, tax_rate=0.11, shares=157_300, price=142.0, dividend=0.35, debt=1_500,
        cfo_title="Chief Financial Officer", cfo="Priya Raman",
        ceo_title="President and Chief Executive Officer", ceo="Henrik Vasquez",
        products="power-management, data-converter and automotive sensor integrated circuits",
        inputs="silicon wafers, foundry capacity, substrates and test services",
        customers="automotive suppliers, industrial equipment makers and consumer electronics manufacturers",
    ),
)


def fiscal_quarter_ends(company: Company, fy: int) -> tuple[date, date, date, date]:
    """The four quarter-end dates of a fiscal year (the fourth is the fiscal year-end)."""
    if company.calendar == "calendar":
        return (date(fy, 3, 31), date(fy, 6, 30), date(fy, 9, 30), date(fy, 12, 31))
    start, end = last_saturday_of_september(fy - 1), last_saturday_of_september(fy)
    extra = (end - start).days // 7 - 52  # a 53-week year puts its 14th week in the first quarter
    q1 = start + timedelta(weeks=13 + extra)
    return (q1, q1 + timedelta(weeks=13), q1 + timedelta(weeks=26), end)


def fiscal_year_end(company: Company, fy: int) -> date:
    return fiscal_quarter_ends(company, fy)[3]


def quarter_start(company: Company, fy: int, q: int) -> date:
    prev = fiscal_quarter_ends(company, fy)[q - 2] if q > 1 else fiscal_year_end(company, fy - 1)
    return prev + timedelta(days=1)


# ------------------------------------------------------------------------------------ the figures


IS_KEYS = ("line1", "line2", "revenue", "cost1", "cost2", "cost", "gross", "rd", "sga", "opex", "opinc", "other",
           "pretax", "tax", "net")
CF_KEYS = ("net", "da", "sbc", "other_noncash", "d_ar", "d_inv", "d_ap", "d_other", "cfo", "capex", "ms_buy",
           "ms_sell", "inv_other", "cfi", "dividends", "buyback", "debt_issued", "debt_repaid", "fin_other", "cff",
           "change")
BS_KEYS = ("cash", "ms", "ar", "inv", "oca", "tca", "ppe", "goodwill", "onca", "ta", "ap", "accrued", "deferred",
           "cur_debt", "tcl", "ltd", "oncl", "tl", "apic", "re", "aoci", "te", "tle")


@dataclass
class Quarter:
    fy: int
    q: int
    end: date
    v: dict = field(default_factory=dict)  # income statement and cash flows of the quarter, millions
    bs: dict = field(default_factory=dict)  # balance sheet at quarter end
    shares_basic: int = 0  # thousands, weighted average
    shares_diluted: int = 0
    segments: dict = field(default_factory=dict)
    segment_profit: dict = field(default_factory=dict)
    buybacks: list = field(default_factory=list)  # (first day, last day, thousand shares, average price)
    inventory_parts: tuple = ()
    price: float = 0.0


class Model:
    """Quarterly figures of one company from fiscal year first_fy-1 to last_fy, all consistent."""

    def __init__(self, company: Company, rng: random.Random):
        self.c = company
        first_fy, last_fy = company.filings[0][0], company.filings[-1][0]
        self.quarters: dict[tuple[int, int], Quarter] = {}
        c, r = company, rng
        t = 0
        cash, ms, ppe = c.base_revenue * 0.9, c.base_revenue * 1.1, c.base_revenue * 1.6
        goodwill = round(c.base_revenue * 0.7)
        ltd, apic, aoci = c.debt, round(c.base_revenue * 1.3), -round(c.base_revenue * 0.05)
        shares, price = float(c.shares), c.price
        prev_ar = prev_inv = prev_ap = None
        share1 = c.line_share
        weights = [w for _, w in c.segments]
        for fy in range(first_fy - 1, last_fy + 1):
            for q, end in enumerate(fiscal_quarter_ends(c, fy), start=1):
                qt = Quarter(fy, q, end)
                scale = (1 + c.growth) ** (t / 4) * c.seasonal[q - 1] * (1 + r.uniform(-0.035, 0.035))
                if c.calendar == "52-53" and q == 1 and (end - quarter_start(c, fy, 1)).days >= 97:
                    scale *= 14 / 13
                total = c.base_revenue * scale
                share1 = min(0.95, max(0.6, share1 + r.uniform(-0.008, 0.008)))
                v = qt.v
                v["line1"] = round(total * share1)
                v["line2"] = round(total * (1 - share1))
                v["revenue"] = v["line1"] + v["line2"]
                v["cost1"] = round(v["line1"] * (1 - c.gross[0] - r.uniform(-0.012, 0.012)))
                v["cost2"] = round(v["line2"] * (1 - c.gross[1] - r.uniform(-0.02, 0.02)))
                v["cost"] = v["cost1"] + v["cost2"]
                v["gross"] = v["revenue"] - v["cost"]
                v["rd"] = round(v["revenue"] * c.rd * r.uniform(0.95, 1.06))
                v["sga"] = round(v["revenue"] * c.sga * r.uniform(0.95, 1.05))
                v["opex"] = v["rd"] + v["sga"]
                v["opinc"] = v["gross"] - v["opex"]
                v["other"] = round(r.gauss(v["revenue"] * 0.004, v["revenue"] * 0.008))
                v["pretax"] = v["opinc"] + v["other"]
                v["tax"] = round(v["pretax"] * (c.tax_rate + r.uniform(-0.02, 0.02)))
                v["net"] = v["pretax"] - v["tax"]
                # Segments (or regions): shares drift, the largest takes the rounding.
                weights = [max(0.03, w * r.uniform(0.97, 1.03)) for w in weights]
                norm = sum(weights)
                parts = [round(v["revenue"] * w / norm) for w in weights]
                big = parts.index(max(parts))
                parts[big] += v["revenue"] - sum(parts)
                qt.segments = {name: p for (name, _), p in zip(c.segments, parts)}
                margin = v["opinc"] / v["revenue"]
                qt.segment_profit = {n: round(p * margin * r.uniform(1.05, 1.3)) for n, p in qt.segments.items()}
                # Balance sheet drivers.
                bs = qt.bs
                bs["ar"] = round(v["revenue"] * r.uniform(0.42, 0.5))
                bs["inv"] = round(v["cost"] * r.uniform(0.55, 0.7))
                bs["ap"] = round(v["cost"] * r.uniform(0.45, 0.58))
                if prev_ar is None:
                    prev_ar, prev_inv, prev_ap = bs["ar"], bs["inv"], bs["ap"]
                # Cash flows of the quarter.
                v["da"] = round(v["revenue"] * r.uniform(0.035, 0.045))
                v["sbc"] = round(v["revenue"] * r.uniform(0.015, 0.025))
                v["other_noncash"] = round(r.gauss(0, v["revenue"] * 0.004))
                v["d_ar"] = prev_ar - bs["ar"]
                v["d_inv"] = prev_inv - bs["inv"]
                v["d_ap"] = bs["ap"] - prev_ap
                v["d_other"] = round(r.gauss(0, v["revenue"] * 0.02))
                v["cfo"] = sum(v[k] for k in ("net", "da", "sbc", "other_noncash", "d_ar", "d_inv", "d_ap", "d_other"))
                v["capex"] = -round(v["revenue"] * r.uniform(0.04, 0.06))
                v["inv_other"] = round(r.gauss(0, 4))
                qt.price = price = round(price * r.uniform(0.94, 1.1), 2)
                qt.shares_basic = round(shares)
                qt.shares_diluted = round(shares * r.uniform(1.004, 1.009))
                v["dividends"] = -round(c.dividend * shares / 1000)
                qt.buybacks = self._buybacks(fy, q, r, price, shares)
                bought = sum(b[2] for b in qt.buybacks)
                v["buyback"] = -round(sum(b[2] * b[3] for b in qt.buybacks) / 1000)
                v["debt_issued"], v["debt_repaid"] = 0, 0
                if t % 5 == 3:
                    v["debt_issued"] = 500
                if t % 4 == 1:
                    v["debt_repaid"] = -250
                ltd += v["debt_issued"] + v["debt_repaid"]
                v["fin_other"] = -round(v["sbc"] * r.uniform(0.25, 0.4))  # taxes withheld on vested awards
                v["cff"] = v["dividends"] + v["buyback"] + v["debt_issued"] + v["debt_repaid"] + v["fin_other"]
                # Marketable securities take what cash does not need (cash aims at 65-95% of a quarter's sales).
                before = cash + v["cfo"] + v["capex"] + v["inv_other"] + v["cff"]
                move = round(before - total * r.uniform(0.65, 0.95))
                move = max(move, -round(ms - total * 0.3))
                base = round(total * r.uniform(0.15, 0.25))
                v["ms_buy"], v["ms_sell"] = -(base + max(move, 0)), base + max(-move, 0)
                ms += -v["ms_buy"] - v["ms_sell"]
                v["cfi"] = v["capex"] + v["ms_buy"] + v["ms_sell"] + v["inv_other"]
                v["change"] = v["cfo"] + v["cfi"] + v["cff"]
                cash += v["change"]
                ppe += -v["capex"] - v["da"] * 0.8
                apic += v["sbc"] + v["fin_other"]
                v["oci_fx"], v["oci_ms"] = round(r.gauss(0, 7)), round(r.gauss(0, 3))
                v["oci"] = v["oci_fx"] + v["oci_ms"]
                aoci += v["oci"]
                shares = shares - bought * 0.9 + r.uniform(200, 600)
                bs["cash"], bs["ms"] = round(cash), round(ms)
                bs["oca"] = round(v["revenue"] * r.uniform(0.12, 0.16))
                bs["tca"] = bs["cash"] + bs["ms"] + bs["ar"] + bs["inv"] + bs["oca"]
                bs["ppe"], bs["goodwill"] = round(ppe), goodwill
                bs["onca"] = round(c.base_revenue * r.uniform(0.55, 0.62))
                bs["ta"] = bs["tca"] + bs["ppe"] + bs["goodwill"] + bs["onca"]
                bs["accrued"] = round(v["revenue"] * r.uniform(0.16, 0.2))
                bs["deferred"] = round(v["line2"] * r.uniform(0.4, 0.6))
                bs["cur_debt"] = 250
                bs["tcl"] = bs["ap"] + bs["accrued"] + bs["deferred"] + bs["cur_debt"]
                bs["ltd"] = ltd - 250
                bs["oncl"] = round(c.base_revenue * r.uniform(0.3, 0.35))
                bs["tl"] = bs["tcl"] + bs["ltd"] + bs["oncl"]
                bs["apic"], bs["aoci"] = apic, aoci
                bs["te"] = bs["ta"] - bs["tl"]
                bs["re"] = bs["te"] - apic - aoci
                bs["tle"] = bs["tl"] + bs["te"]
                assert bs["te"] > 0 and bs["cash"] > 0 and bs["ms"] > 0, (c.ticker, fy, q, bs)
                fg = round(bs["inv"] * r.uniform(0.5, 0.6))
                raw = round(bs["inv"] * r.uniform(0.25, 0.32))
                qt.inventory_parts = (raw, bs["inv"] - raw - fg, fg)
                prev_ar, prev_inv, prev_ap = bs["ar"], bs["inv"], bs["ap"]
                self.quarters[(fy, q)] = qt
                t += 1

    def _buybacks(self, fy, q, r, price, shares):
        """Three (fiscal) months of repurchases: first day, last day, thousand shares, average price."""
        c = self.c
        start = quarter_start(c, fy, q)
        end = fiscal_quarter_ends(c, fy)[q - 1]
        if c.calendar == "calendar":
            bounds = []
            for m in range(3):
                month = start.month + m
                first = date(start.year, month, 1)
                nxt = date(start.year + (month == 12), month % 12 + 1, 1)
                bounds.append((first, nxt - timedelta(days=1)))
        else:
            weeks = (end - start).days // 7 + 1
            pattern = (5, 4, weeks - 9)
            bounds, first = [], start
            for w in pattern:
                last = first + timedelta(weeks=w) - timedelta(days=1)
                bounds.append((first, last))
                first = last + timedelta(days=1)
        out = []
        for first, last in bounds:
            bought = round(shares * r.uniform(0.0012, 0.0028))
            out.append((first, last, bought, round(price * r.uniform(0.96, 1.04), 2)))
        return out

    # Figures as the filings print them.
    def ytd(self, fy: int, q: int) -> dict:
        qs = [self.quarters[(fy, i)] for i in range(1, q + 1)]
        out = {k: sum(x.v[k] for x in qs) for k in qs[0].v}
        out["shares_basic"] = round(sum(x.shares_basic for x in qs) / len(qs))
        out["shares_diluted"] = round(sum(x.shares_diluted for x in qs) / len(qs))
        out["segments"] = {n: sum(x.segments[n] for x in qs) for n in qs[0].segments}
        out["segment_profit"] = {n: sum(x.segment_profit[n] for x in qs) for n in qs[0].segment_profit}
        return out

    def three(self, fy: int, q: int) -> dict:
        x = self.quarters[(fy, q)]
        out = dict(x.v, shares_basic=x.shares_basic, shares_diluted=x.shares_diluted)
        out["segments"], out["segment_profit"] = dict(x.segments), dict(x.segment_profit)
        return out


def line_name(c: Company, i: int, lower: bool = False) -> str:
    """ "Products net sales", "Licensing and royalty revenue" (no "revenue revenue")."""
    name = c.lines[i] if c.revenue_word in c.lines[i].lower() else f"{c.lines[i]} {c.revenue_word}"
    return name[0].lower() + name[1:] if lower else name


def eps(net: int, shares_thousands: int) -> str:
    return f"{net * 1000 / shares_thousands:.2f}"


def pct(cur: float, prior: float) -> int:
    return round((cur - prior) / abs(prior) * 100)


# ------------------------------------------------------------------------------------- the filings


@dataclass
class Filing:
    company: Company
    fy: int
    q: int
    end: date
    prior_end: date
    fy_start: date
    last_fy_end: date
    file: str
    label: str  # "Q3 FY2023"
    title: str  # metadata title, "" where none
    model: Model

    @property
    def quarter_words(self) -> str:  # "third quarter of fiscal 2023" / "third quarter of 2023"
        fiscal = "fiscal " if self.company.calendar != "calendar" else ""
        return f"{ORDINAL[self.q]} quarter of {fiscal}{self.fy}"

    @property
    def prior_quarter_words(self) -> str:
        fiscal = "fiscal " if self.company.calendar != "calendar" else ""
        return f"{ORDINAL[self.q]} quarter of {fiscal}{self.fy - 1}"


def make_filings(seed: int) -> list[Filing]:
    filings = []
    for index, c in enumerate(COMPANIES):
        model = Model(c, random.Random(seed * 1009 + index))
        for (fy, q), titled in zip(c.filings, c.titled):
            end = fiscal_quarter_ends(c, fy)[q - 1]
            label = f"Q{q} FY{fy}" if c.calendar != "calendar" else f"Q{q} {fy}"
            title = ""
            if titled:
                title = f"{c.name} 10-Q {label}" if index != 1 else f"{c.legal} - Form 10-Q for the quarter ended {long_date(end)}"
            filings.append(Filing(
                company=c, fy=fy, q=q, end=end, prior_end=fiscal_quarter_ends(c, fy - 1)[q - 1],
                fy_start=quarter_start(c, fy, 1), last_fy_end=fiscal_year_end(c, fy - 1),
                file=f"{c.ticker.lower()}-{end:%Y%m%d}.pdf", label=label, title=title, model=model,
            ))
    return filings


def filing_list(seed: int = 0) -> list[dict]:
    """What filings.json holds: one entry a filing, in the order of companies and periods."""
    return [
        {"file": f.file, "company": f.company.legal, "ticker": f.company.ticker, "form": "10-Q",
         "period_end": f.end.isoformat(), "fiscal_year": f.fy, "fiscal_quarter": f.q, "label": f.label,
         "fiscal_calendar": "52/53-week, ends last Saturday of September" if f.company.calendar != "calendar"
         else "calendar year", "title": f.title}
        for f in make_filings(seed)
    ]


# Styles.
BODY = ParagraphStyle("body", fontName="Times-Roman", fontSize=9.5, leading=12, alignment=TA_JUSTIFY, spaceAfter=6)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8.5, leading=10.5)
CENTER = ParagraphStyle("center", parent=BODY, alignment=TA_CENTER, spaceAfter=3)
CENTER_B = ParagraphStyle("centerb", parent=CENTER, fontName="Times-Bold")
BIG = ParagraphStyle("big", parent=CENTER, fontName="Times-Bold", fontSize=14, leading=18, spaceAfter=6)
HEAD = ParagraphStyle("head", parent=BODY, fontName="Times-Bold", fontSize=10.5, leading=13, spaceBefore=6,
                      spaceAfter=5, alignment=0)
SUB = ParagraphStyle("sub", parent=BODY, fontName="Times-BoldItalic", spaceBefore=3, spaceAfter=3, alignment=0)
CELL = ParagraphStyle("cell", fontName="Helvetica", fontSize=8, leading=9.5)
CELL_B = ParagraphStyle("cellb", parent=CELL, fontName="Helvetica-Bold")


class Heading(Paragraph):
    """A heading whose page is recorded for the table of contents."""

    def __init__(self, text, style, key=None):
        super().__init__(text, style)
        self.toc_key = key


class _Doc(SimpleDocTemplate):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.toc_pages: dict[str, int] = {}

    def afterFlowable(self, flowable):
        key = getattr(flowable, "toc_key", None)
        if key:
            self.toc_pages.setdefault(key, self.page)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def statement_table(f: Filing, rows: list, groups: list[tuple[str, list[str]]], label_width=None):
    """An EDGAR-style statement: a label column, then for each period a narrow "$" cell and a value cell.

    groups: [("Three Months Ended", [date, date]), ...]; rows: (label, [values], flags) where flags hold
    "$" (dollar signs), "total" (a line above), "double" (lines below), "bold", "head" (a caption row)
    and "indent"; values are strings already formatted.
    """
    periods = sum(len(d) for _, d in groups)
    if label_width is None:
        label_width = (2.5 if periods > 2 else 3.4) * inch
    value_w = (7.0 * inch - label_width) / periods
    widths = [label_width] + [0.14 * inch, value_w - 0.14 * inch] * periods
    header1 = [""]
    header2 = [""]
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
        ("LEFTPADDING", (1, 0), (-1, -1), 1),
        ("RIGHTPADDING", (1, 0), (-1, -1), 3),
    ]
    col = 1
    for caption, dates in groups:
        if caption:
            header1 += [caption] + [""] * (2 * len(dates) - 1)
            style += [("SPAN", (col, 0), (col + 2 * len(dates) - 1, 0)),
                      ("LINEBELOW", (col, 0), (col + 2 * len(dates) - 1, 0), 0.5, colors.black)]
        else:
            header1 += [""] * (2 * len(dates))
        for d in dates:
            header2 += [d, ""]
            style += [("SPAN", (col, 1), (col + 1, 1))]
            col += 2
    style += [("ALIGN", (1, 0), (-1, 1), "CENTER"), ("FONT", (1, 0), (-1, 1), "Helvetica-Bold", 7.5),
              ("LINEBELOW", (1, 1), (-1, 1), 0.5, colors.black)]
    data = [header1, header2]
    for label, values, flags in rows:
        r = len(data)
        indent = "&nbsp;" * (4 * flags.count("indent"))
        text = Paragraph(indent + _esc(label), CELL_B if "bold" in flags or "head" in flags else CELL)
        line = [text]
        for value in values:
            line += ["$" if "$" in flags and value else "", value]
        if "head" in flags:
            line = [text] + [""] * (2 * periods)
        data.append(line)
        for i in range(periods):
            c0 = 1 + 2 * i
            style.append(("ALIGN", (c0, r), (c0, r), "LEFT"))
            if "total" in flags:
                style.append(("LINEABOVE", (c0, r), (c0 + 1, r), 0.5, colors.black))
            if "double" in flags:
                style.append(("LINEBELOW", (c0, r), (c0 + 1, r), 1.2, colors.black))
        if "bold" in flags:
            style.append(("FONT", (1, r), (-1, r), "Helvetica-Bold", 8))
    for r in range(2, len(data), 2):
        style.append(("BACKGROUND", (0, r), (-1, r), colors.Color(0.93, 0.95, 0.98)))
    table = Table(data, colWidths=widths, repeatRows=2)
    table.setStyle(TableStyle(style))
    return table


def simple_table(header: list[str], rows: list[list[str]], widths: list[float], total_rows=(), left=False):
    data = [[Paragraph(_esc(h), CELL_B) for h in header]] + [
        [Paragraph(_esc(cell), CELL) if i == 0 or len(cell) > 24 else cell for i, cell in enumerate(row)]
        for row in rows
    ]
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("ALIGN", (1, 0), (-1, -1), "LEFT" if left else "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    for r in total_rows:
        style += [("LINEABOVE", (1, r + 1), (-1, r + 1), 0.5, colors.black),
                  ("FONT", (1, r + 1), (-1, r + 1), "Helvetica-Bold", 8)]
    t = Table(data, colWidths=[w * inch for w in widths])
    t.setStyle(TableStyle(style))
    return t


class Writer:
    """The story of one filing."""

    def __init__(self, f: Filing):
        self.f, self.c, self.m = f, f.company, f.model
        self.cur3 = self.m.three(f.fy, f.q)
        self.pri3 = self.m.three(f.fy - 1, f.q)
        self.cur_ytd = self.m.ytd(f.fy, f.q)
        self.pri_ytd = self.m.ytd(f.fy - 1, f.q)
        self.bs = self.m.quarters[(f.fy, f.q)].bs
        self.bs_ye = self.m.quarters[(f.fy - 1, 4)].bs
        self.facts: dict[str, str] = {}  # what the prose states, for questions

    # -- pieces
    def cover(self):
        f, c = self.f, self.c
        shares_date = f.end + timedelta(days=19 + (f.q * 3) % 5)
        shares_out = self.m.quarters[(f.fy, f.q)].shares_basic * 1000 - 1_137_000 - f.q * 211_000
        self.facts["shares_outstanding"] = f"{shares_out:,}"
        self.facts["shares_date"] = long_date(shares_date)
        fiscal_note = f"fiscal year ended {long_date(f.last_fy_end)}"
        s = [
            Paragraph("UNITED STATES", CENTER_B),
            Paragraph("SECURITIES AND EXCHANGE COMMISSION", BIG),
            Paragraph("Washington, D.C. 20549", CENTER),
            Spacer(1, 8),
            Paragraph("FORM 10-Q", BIG),
            Spacer(1, 4),
            Paragraph("(Mark One)", CENTER),
            Paragraph("[X] QUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
                      CENTER_B),
            Paragraph(f"For the quarterly period ended {long_date(f.end)}", CENTER_B),
            Paragraph("or", CENTER),
            Paragraph("[ ] TRANSITION REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
                      CENTER_B),
            Paragraph("For the transition period from ______ to ______", CENTER),
            Paragraph(f"Commission File Number: {c.file_number}", CENTER_B),
            Spacer(1, 8),
            Paragraph(_esc(c.legal), BIG),
            Paragraph("(Exact name of Registrant as specified in its charter)", CENTER),
            Spacer(1, 4),
            simple_table(["State or other jurisdiction of incorporation or organization",
                          "I.R.S. Employer Identification No."], [[c.state, c.irs_number]], [3.5, 3.5], left=True),
            Spacer(1, 4),
            Paragraph(_esc(c.address), CENTER),
            Paragraph("(Address of principal executive offices) (Zip Code)", CENTER),
            Paragraph(f"{c.phone}", CENTER),
            Paragraph("(Registrant's telephone number, including area code)", CENTER),
            Spacer(1, 6),
            Paragraph("Securities registered pursuant to Section 12(b) of the Act:", BODY),
            simple_table(["Title of each class", "Trading symbol(s)", "Name of each exchange on which registered"],
                         [["Common Stock, $0.00001 par value per share" if c.state != "Bermuda"
                           else "Common Shares, par value $0.002 per share", c.ticker, c.exchange]],
                         [2.6, 1.4, 3.0], left=True),
            Spacer(1, 6),
            Paragraph("Indicate by check mark whether the Registrant (1) has filed all reports required to be filed by "
                      "Section 13 or 15(d) of the Securities Exchange Act of 1934 during the preceding 12 months (or for "
                      "such shorter period that the Registrant was required to file such reports), and (2) has been "
                      "subject to such filing requirements for the past 90 days. Yes [X] No [ ]", SMALL),
            Paragraph("Indicate by check mark whether the Registrant has submitted electronically every Interactive Data "
                      "File required to be submitted pursuant to Rule 405 of Regulation S-T during the preceding 12 "
                      "months. Yes [X] No [ ]", SMALL),
            Paragraph("Indicate by check mark whether the Registrant is a large accelerated filer, an accelerated "
                      "filer, a non-accelerated filer, a smaller reporting company, or an emerging growth company. "
                      "Large accelerated filer [X] Accelerated filer [ ] Non-accelerated filer [ ] Smaller reporting "
                      "company [ ] Emerging growth company [ ]", SMALL),
            Paragraph("Indicate by check mark whether the Registrant is a shell company (as defined in Rule 12b-2 of "
                      "the Exchange Act). Yes [ ] No [X]", SMALL),
            Paragraph(f"{shares_out:,} shares of common stock were issued and outstanding as of "
                      f"{long_date(shares_date)}.", BODY),
            PageBreak(),
        ]
        return s

    def toc(self, pages: dict[str, int]):
        c = self.c
        entries = [
            ("", "Part I", None),
            ("Item 1.", "Financial Statements", "i1"),
            ("Item 2.", "Management's Discussion and Analysis of Financial Condition and Results of Operations", "i2"),
            ("Item 3.", "Quantitative and Qualitative Disclosures About Market Risk", "i3"),
            ("Item 4.", "Controls and Procedures", "i4"),
            ("", "Part II", None),
            ("Item 1.", "Legal Proceedings", "ii1"),
            ("Item 1A.", "Risk Factors", "ii1a"),
            ("Item 2.", "Unregistered Sales of Equity Securities and Use of Proceeds", "ii2"),
            ("Item 3.", "Defaults Upon Senior Securities", "ii3"),
            ("Item 4.", "Mine Safety Disclosures", "ii3"),
            ("Item 5.", "Other Information", "ii3"),
            ("Item 6.", "Exhibits", "ii6"),
        ]
        rows = []
        for item, text, key in entries:
            page = str(pages.get(key, "")) if key else ""
            rows.append([Paragraph(f"<b>{item}</b>", CELL) if item else "",
                         Paragraph(f"<b>{text}</b>" if not item else _esc(text), CELL), page])
        t = Table([["", "", Paragraph("<b>Page</b>", CELL)]] + rows, colWidths=[0.8 * inch, 5.5 * inch, 0.7 * inch])
        t.setStyle(TableStyle([("ALIGN", (2, 0), (2, -1), "RIGHT"), ("FONT", (0, 0), (-1, -1), "Helvetica", 8.5),
                               ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
        return [Paragraph(_esc(c.legal), CENTER_B), Paragraph("Form 10-Q", CENTER_B),
                Paragraph(f"For the Fiscal Quarter Ended {long_date(self.f.end)}", CENTER_B),
                Paragraph("TABLE OF CONTENTS", CENTER_B), Spacer(1, 8), t, Spacer(1, 14),
                Paragraph("Forward-Looking Statements", HEAD)] + [Paragraph(p, BODY) for p in self.forward_looking()] + [
                PageBreak()]

    def forward_looking(self):
        c = self.c
        return [
            "This Quarterly Report on Form 10-Q (\"Form 10-Q\") contains forward-looking statements, within the "
            "meaning of the Private Securities Litigation Reform Act of 1995, that involve risks and uncertainties. "
            "Many of the forward-looking statements are located in Part I, Item 2 of this Form 10-Q under the heading "
            "\"Management's Discussion and Analysis of Financial Condition and Results of Operations.\" "
            "Forward-looking statements provide current expectations of future events based on certain assumptions "
            "and include any statement that does not directly relate to any historical or current fact. For example, "
            f"statements in this Form 10-Q regarding the potential future impact of macroeconomic conditions on "
            f"{c.short}'s business and results of operations are forward-looking statements.",
            "Forward-looking statements can also be identified by words such as \"future,\" \"anticipates,\" "
            "\"believes,\" \"estimates,\" \"expects,\" \"intends,\" \"plans,\" \"predicts,\" \"will,\" \"would,\" "
            "\"could,\" \"can,\" \"may,\" and similar terms. Forward-looking statements are not guarantees of future "
            "performance and the Company's actual results may differ significantly from the results discussed in the "
            "forward-looking statements. Factors that might cause such differences include, but are not limited to, "
            "those discussed in Part II, Item 1A of this Form 10-Q under the heading \"Risk Factors.\" The Company "
            "assumes no obligation to revise or update any forward-looking statements for any reason, except as "
            "required by law.",
        ]

    def groups(self, balance=False):
        f = self.f
        d_cur, d_pri = long_date(f.end), long_date(f.prior_end)
        if f.q == 1:
            return [("Three Months Ended", [d_cur, d_pri])]
        return [("Three Months Ended", [d_cur, d_pri]), (f"{MONTHS_WORD[f.q]} Months Ended", [d_cur, d_pri])]

    def columns(self):
        return [self.cur3, self.pri3] if self.f.q == 1 else [self.cur3, self.pri3, self.cur_ytd, self.pri_ytd]

    def income_statement(self):
        c = self.c
        cols = self.columns()
        rw = c.revenue_word.capitalize()

        def row(label, key, *flags):
            return (label, [money(x[key]) for x in cols], flags)

        def eps_row(label, key, *flags):
            return (label, [eps(x["net"], x[key]) for x in cols], flags)

        def shares_row(label, key, *flags):
            return (label, [f"{x[key]:,}" for x in cols], flags)

        rows = [
            (f"{rw}:", [], ("head",)),
            row(c.lines[0], "line1", "$", "indent"),
            row(c.lines[1], "line2", "indent"),
            row(f"Total {c.revenue_word}", "revenue", "total", "bold", "indent", "indent"),
            (f"{c.cost_word}:", [], ("head",)),
            row(c.lines[0], "cost1", "indent"),
            row(c.lines[1], "cost2", "indent"),
            row(f"Total {c.cost_word[0].lower() + c.cost_word[1:]}", "cost", "total", "indent", "indent"),
            row(c.gross_word, "gross", "$", "total", "bold"),
            ("Operating expenses:", [], ("head",)),
            row("Research and development", "rd", "indent"),
            row("Selling, general and administrative", "sga", "indent"),
            row("Total operating expenses", "opex", "total", "indent", "indent"),
            row("Operating income", "opinc", "total", "bold"),
            row("Other income/(expense), net", "other"),
            row("Income before provision for income taxes", "pretax", "total"),
            row("Provision for income taxes", "tax"),
            row("Net income", "net", "$", "total", "double", "bold"),
            ("Earnings per share:", [], ("head",)),
            eps_row("Basic", "shares_basic", "$", "indent"),
            eps_row("Diluted", "shares_diluted", "$", "indent"),
            ("Shares used in computing earnings per share:", [], ("head",)),
            shares_row("Basic", "shares_basic", "indent"),
            shares_row("Diluted", "shares_diluted", "indent"),
        ]
        return [
            Heading("PART I \u2014 FINANCIAL INFORMATION", HEAD, "i1"),
            Paragraph("Item 1. Financial Statements", HEAD),
            Paragraph(_esc(c.legal), CENTER_B),
            Paragraph("CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)", CENTER_B),
            Paragraph("(In millions, except number of shares, which are reflected in thousands, and per-share amounts)",
                      CENTER),
            Spacer(1, 4),
            statement_table(self.f, rows, self.groups()),
            Spacer(1, 6),
            Paragraph("See accompanying Notes to Condensed Consolidated Financial Statements.", SMALL),
            Spacer(1, 10),
        ] + self.comprehensive_income()

    def comprehensive_income(self):
        c = self.c
        cols = self.columns()
        rows = [
            ("Net income", [money(x["net"]) for x in cols], ("$",)),
            ("Other comprehensive income/(loss):", [], ("head",)),
            ("Change in foreign currency translation, net of tax", [money(x["oci_fx"]) for x in cols], ("indent",)),
            ("Change in unrealized gains/losses on marketable securities, net of tax",
             [money(x["oci_ms"]) for x in cols], ("indent",)),
            ("Total other comprehensive income/(loss)", [money(x["oci"]) for x in cols], ("total", "indent", "indent")),
            ("Total comprehensive income", [money(x["net"] + x["oci"]) for x in cols],
             ("$", "total", "double", "bold")),
        ]
        return [
            KeepTogether([
                Paragraph(_esc(c.legal), CENTER_B),
                Paragraph("CONDENSED CONSOLIDATED STATEMENTS OF COMPREHENSIVE INCOME (Unaudited)", CENTER_B),
                Paragraph("(In millions)", CENTER), Spacer(1, 4), statement_table(self.f, rows, self.groups()),
            ]),
            PageBreak(),
        ]

    def balance_sheet(self):
        c, f = self.c, self.f
        cols = [self.bs, self.bs_ye]

        def row(label, key, *flags):
            return (label, [money(x[key]) for x in cols], flags)

        rows = [
            ("ASSETS:", [], ("head",)),
            ("Current assets:", [], ("head",)),
            row("Cash and cash equivalents", "cash", "$", "indent"),
            row("Marketable securities", "ms", "indent"),
            row("Accounts receivable, net", "ar", "indent"),
            row("Inventories", "inv", "indent"),
            row("Other current assets", "oca", "indent"),
            row("Total current assets", "tca", "total", "indent", "indent"),
            row("Property, plant and equipment, net", "ppe"),
            row("Goodwill", "goodwill"),
            row("Other non-current assets", "onca"),
            row("Total assets", "ta", "$", "total", "double", "bold"),
            ("LIABILITIES AND SHAREHOLDERS' EQUITY:", [], ("head",)),
            ("Current liabilities:", [], ("head",)),
            row("Accounts payable", "ap", "$", "indent"),
            row("Accrued and other current liabilities", "accrued", "indent"),
            row("Deferred revenue", "deferred", "indent"),
            row("Current portion of long-term debt", "cur_debt", "indent"),
            row("Total current liabilities", "tcl", "total", "indent", "indent"),
            row("Long-term debt", "ltd"),
            row("Other non-current liabilities", "oncl"),
            row("Total liabilities", "tl", "total", "bold"),
            ("Commitments and contingencies", [], ("head",)),
            ("Shareholders' equity:", [], ("head",)),
            row("Common stock and additional paid-in capital", "apic", "indent"),
            row("Retained earnings", "re", "indent"),
            row("Accumulated other comprehensive income/(loss)", "aoci", "indent"),
            row("Total shareholders' equity", "te", "total", "indent", "indent"),
            row("Total liabilities and shareholders' equity", "tle", "$", "total", "double", "bold"),
        ]
        return [
            Paragraph(_esc(c.legal), CENTER_B),
            Paragraph("CONDENSED CONSOLIDATED BALANCE SHEETS (Unaudited)", CENTER_B),
            Paragraph("(In millions, except number of shares, which are reflected in thousands, and par value)", CENTER),
            Spacer(1, 4),
            statement_table(f, rows, [("", [long_date(f.end), long_date(f.last_fy_end)])], label_width=4.2 * inch),
            Spacer(1, 6),
            Paragraph("See accompanying Notes to Condensed Consolidated Financial Statements.", SMALL),
            PageBreak(),
        ]

    def cash_flows(self):
        c, f = self.c, self.f
        cols = [self.cur_ytd, self.pri_ytd]
        begin = [self.m.quarters[(f.fy - 1, 4)].bs["cash"], self.m.quarters[(f.fy - 2, 4)].bs["cash"]
                 if (f.fy - 2, 4) in self.m.quarters else None]
        if begin[1] is None:
            begin[1] = self.m.quarters[(f.fy - 1, f.q)].bs["cash"] - self.pri_ytd["change"]

        def row(label, key, *flags):
            return (label, [money(x[key]) for x in cols], flags)

        rows = [
            ("Cash and cash equivalents, beginning balances", [money(b) for b in begin], ("$", "bold")),
            ("Operating activities:", [], ("head",)),
            row("Net income", "net", "indent"),
            ("Adjustments to reconcile net income to cash generated by operating activities:", [], ("head", "indent")),
            row("Depreciation and amortization", "da", "indent", "indent"),
            row("Share-based compensation expense", "sbc", "indent", "indent"),
            row("Other", "other_noncash", "indent", "indent"),
            ("Changes in operating assets and liabilities:", [], ("head", "indent")),
            row("Accounts receivable, net", "d_ar", "indent", "indent"),
            row("Inventories", "d_inv", "indent", "indent"),
            row("Accounts payable", "d_ap", "indent", "indent"),
            row("Other current and non-current assets and liabilities", "d_other", "indent", "indent"),
            row("Cash generated by operating activities", "cfo", "total", "bold"),
            ("Investing activities:", [], ("head",)),
            row("Purchases of marketable securities", "ms_buy", "indent"),
            row("Proceeds from maturities and sales of marketable securities", "ms_sell", "indent"),
            row("Payments for acquisition of property, plant and equipment", "capex", "indent"),
            row("Other", "inv_other", "indent"),
            row("Cash generated by/(used in) investing activities", "cfi", "total", "bold"),
            ("Financing activities:", [], ("head",)),
            row("Payments for taxes related to net share settlement of equity awards", "fin_other", "indent"),
            row("Payments for dividends and dividend equivalents", "dividends", "indent"),
            row("Repurchases of common stock", "buyback", "indent"),
            row("Proceeds from issuance of term debt, net", "debt_issued", "indent"),
            row("Repayments of term debt", "debt_repaid", "indent"),
            row("Cash generated by/(used in) financing activities", "cff", "total", "bold"),
            row("Increase/(decrease) in cash and cash equivalents", "change", "total"),
            ("Cash and cash equivalents, ending balances", [money(b + x["change"]) for b, x in zip(begin, cols)],
             ("$", "total", "double", "bold")),
        ]
        assert begin[0] + self.cur_ytd["change"] == self.bs["cash"]
        return [
            Paragraph(_esc(c.legal), CENTER_B),
            Paragraph("CONDENSED CONSOLIDATED STATEMENTS OF CASH FLOWS (Unaudited)", CENTER_B),
            Paragraph("(In millions)", CENTER),
            Spacer(1, 4),
            statement_table(f, rows, [(f"{MONTHS_WORD[f.q]} Months Ended", [long_date(f.end), long_date(f.prior_end)])],
                            label_width=4.2 * inch),
            Spacer(1, 6),
            Paragraph("See accompanying Notes to Condensed Consolidated Financial Statements.", SMALL),
            PageBreak(),
        ]

    def notes(self):
        c, f, m = self.c, self.f, self.m
        qt = m.quarters[(f.fy, f.q)]
        out = [Paragraph("Notes to Condensed Consolidated Financial Statements (Unaudited)", HEAD),
               Paragraph("Note 1 \u2013 Summary of Significant Accounting Policies", SUB)]
        if c.calendar != "calendar":
            weeks = (fiscal_year_end(c, f.fy) - fiscal_year_end(c, f.fy - 1)).days // 7
            prior_weeks = (fiscal_year_end(c, f.fy - 1) - fiscal_year_end(c, f.fy - 2)).days // 7
            cal = (f"The Company's fiscal year is the 52- or 53-week period that ends on the last Saturday of "
                   f"September. An additional week is included in the first fiscal quarter every five or six years to "
                   f"realign the Company's fiscal quarters with calendar quarters. The Company's fiscal year {f.fy} "
                   f"spans {weeks} weeks and its fiscal year {f.fy - 1} spanned {prior_weeks} weeks. Unless otherwise "
                   f"stated, references to particular years, quarters, months and periods refer to the Company's "
                   f"fiscal years ended in September and the associated quarters, months and periods of those fiscal "
                   f"years.")
        else:
            cal = ("The Company's fiscal year ends on December 31. Unless otherwise stated, references to particular "
                   "years, quarters, months and periods refer to calendar years and the associated quarters, months "
                   "and periods.")
        out += [
            Paragraph(f"<i>Basis of Presentation and Preparation</i> \u2014 The condensed consolidated financial "
                      f"statements include the accounts of {_esc(c.legal)} and its wholly owned subsidiaries "
                      f"(collectively \"{c.short}\" or the \"Company\"). In the opinion of the Company's management, "
                      f"the condensed consolidated financial statements reflect all adjustments, which are normal and "
                      f"recurring in nature, necessary for fair financial statement presentation. The preparation of "
                      f"these condensed consolidated financial statements and accompanying notes in conformity with "
                      f"U.S. generally accepted accounting principles (\"GAAP\") requires the use of management "
                      f"estimates. These condensed consolidated financial statements and accompanying notes should be "
                      f"read in conjunction with the Company's annual consolidated financial statements and accompanying "
                      f"notes included in its Annual Report on Form 10-K for the {'fiscal ' if c.calendar != 'calendar' else ''}"
                      f"year ended {long_date(f.last_fy_end)}.", BODY),
            Paragraph(f"<i>Fiscal Period</i> \u2014 {cal}", BODY),
            Paragraph("Note 2 \u2013 Inventories", SUB),
        ]
        ye = m.quarters[(f.fy - 1, 4)]
        names = ("Raw materials and purchased components", "Work in process", "Finished goods")
        inv_rows = [[n, money(a), money(b)] for n, a, b in zip(names, qt.inventory_parts, ye.inventory_parts)]
        inv_rows.append(["Total inventories", money(self.bs["inv"]), money(self.bs_ye["inv"])])
        out += [Paragraph("Inventories consisted of the following (in millions):", BODY),
                simple_table(["", long_date(f.end), long_date(f.last_fy_end)], inv_rows, [4.0, 1.5, 1.5],
                             total_rows=(3,)), Spacer(1, 6)]
        # Debt.
        principal = self.bs["ltd"] + self.bs["cur_debt"]
        discount = 4 + (f.q * 3 + f.fy) % 9
        face = principal + discount
        fy_label = "Fiscal" if c.calendar != "calendar" else ""
        years = [f"{fy_label} {f.fy} (remaining {4 - f.q} quarter{'s' if f.q < 3 else ''})".strip()] + [
            f"{fy_label} {f.fy + i}".strip() for i in range(1, 5)] + ["Thereafter"]
        r = random.Random(f"{c.ticker}-{f.fy}-debt")
        weights = [0.0 if f.q == 3 else 0.0] + [r.uniform(0.08, 0.2) for _ in range(4)] + [0.45]
        cuts = [round(face * w / sum(weights)) for w in weights]
        cuts[0] = 250 if f.q < 3 else 0
        cuts[-1] += face - sum(cuts)
        self.facts["maturities"] = {y: money(x) for y, x in zip(years, cuts)}
        debt_rows = [[y, money(x)] for y, x in zip(years, cuts)] + [
            ["Total term debt principal", money(face)],
            ["Unamortized discount and issuance costs, net", money(-discount)],
            ["Total term debt", money(principal)],
            ["Less: current portion of term debt", money(-self.bs["cur_debt"])],
            ["Long-term debt", money(self.bs["ltd"])],
        ]
        out += [
            Paragraph("Note 3 \u2013 Debt", SUB),
            Paragraph(f"As of {long_date(f.end)}, the Company had outstanding fixed-rate senior notes with varying "
                      f"maturities for an aggregate principal amount of ${face:,} million (collectively the \"Notes\"). "
                      f"The Notes are senior unsecured obligations and interest is payable semiannually. The future "
                      f"principal payments for the Company's Notes as of {long_date(f.end)} are as follows (in "
                      f"millions):", BODY),
            simple_table(["", "Amount"], debt_rows, [5.0, 2.0], total_rows=(6, 8, 10)),
            Spacer(1, 6),
        ]
        # Share repurchases.
        rep_rows = []
        total_shares = total_amount = 0
        for first, last, shares, price in qt.buybacks:
            amount = shares * price / 1000
            total_shares += shares
            total_amount += amount
            rep_rows.append([f"{long_date(first)} to {long_date(last)}", f"{shares:,}", f"{price:,.2f}"])
        rep_rows.append(["Total", f"{total_shares:,}", f"{total_amount * 1000 / total_shares:,.2f}"])
        self.facts["repurchased_shares"] = f"{total_shares:,}"
        self.facts["repurchase_price"] = f"{total_amount * 1000 / total_shares:,.2f}"
        out += [
            CondPageBreak(2.2 * inch),
            Paragraph("Note 4 \u2013 Shareholders' Equity", SUB),
            Paragraph(f"<i>Share Repurchase Program</i> \u2014 During the three months ended {long_date(f.end)}, the "
                      f"Company repurchased {total_shares:,} thousand shares of its common stock for "
                      f"${-self.cur3['buyback']:,} million under the program authorized by the Board of Directors. "
                      f"The following table summarizes the repurchases by fiscal month (shares in thousands):", BODY),
            simple_table(["Period", "Total number of shares purchased", "Average price paid per share ($)"], rep_rows,
                         [3.4, 1.8, 1.8], total_rows=(3,)),
            Spacer(1, 6),
            Paragraph("Note 5 \u2013 Income Taxes", SUB),
            Paragraph("The Company is subject to taxation and files income tax returns in the U.S. federal "
                      "jurisdiction and many state and foreign jurisdictions. Tax years after 2017 remain open to "
                      "examination. Management believes that an adequate provision has been made for any adjustments "
                      "that may result from tax examinations; however, the outcome of tax audits cannot be predicted "
                      "with certainty.", BODY),
        ]
        out += self.segment_note()
        out += [
            Paragraph("Note 7 \u2013 Commitments and Contingencies", SUB),
            Paragraph("The Company is subject to various legal proceedings and claims that have arisen in the ordinary "
                      "course of business and that have not been fully resolved. The outcome of litigation is "
                      "inherently uncertain. In the opinion of management, there was not at least a reasonable "
                      "possibility the Company may have incurred a material loss, or a material loss greater than a "
                      "recorded accrual, concerning loss contingencies for asserted legal and other claims.", BODY),
            PageBreak(),
        ]
        return out

    def segment_note(self):
        c, f = self.c, self.f
        cols = self.columns()
        word = c.revenue_word
        rows = []
        if c.segment_word == "segment":
            rows.append(("Net sales:", [], ("head",)))
            for i, n in enumerate(self.cur3["segments"]):
                rows.append((n, [money(x["segments"][n]) for x in cols], ("$", "indent") if i == 0 else ("indent",)))
            rows.append(("Total net sales", [money(x["revenue"]) for x in cols], ("$", "total", "bold")))
            rows.append(("Segment operating profit:", [], ("head",)))
            for i, n in enumerate(self.cur3["segments"]):
                rows.append((n, [money(x["segment_profit"][n]) for x in cols], ("$", "indent") if i == 0 else ("indent",)))
            rows.append(("Total segment operating profit", [money(sum(x["segment_profit"].values())) for x in cols],
                         ("$", "total")))
            rows.append(("Unallocated corporate items", [money(x["opinc"] - sum(x["segment_profit"].values()))
                                                         for x in cols], ()))
            rows.append(("Operating income", [money(x["opinc"]) for x in cols], ("$", "total", "double", "bold")))
            text = (f"The Company manages its business on the basis of three operating segments: "
                    f"{', '.join(self.cur3['segments'])}. Segment operating profit excludes unallocated corporate "
                    f"items. The following table shows information by reportable segment (in millions):")
        else:
            for i, n in enumerate(self.cur3["segments"]):
                rows.append((n, [money(x["segments"][n]) for x in cols], ("$",) if i == 0 else ()))
            rows.append((f"Total {word}", [money(x["revenue"]) for x in cols], ("$", "total", "double", "bold")))
            text = (f"The Company reports {word} by geographic region based on the location of the customer's "
                    f"headquarters or ship-to location. {word.capitalize()} by region was as follows (in millions):")
        return [
            CondPageBreak(2.6 * inch),
            Paragraph("Note 6 \u2013 Segment Information and Geographic Data", SUB),
            Paragraph(text, BODY),
            statement_table(f, rows, self.groups()),
            Spacer(1, 8),
        ]

    def mdna(self):
        c, f = self.c, self.f
        cur, pri = self.cur3, self.pri3
        word = c.revenue_word
        qw, pqw = f.quarter_words, f.prior_quarter_words

        def change(key, a=cur, b=pri):
            p = pct(a[key], b[key])
            return ("increased" if p > 0 else "decreased" if p < 0 else "were flat"), abs(p)

        verb, p = change("revenue")
        self.facts["revenue_growth"] = f"{p}%"
        self.facts["revenue_verb"] = verb
        gm_cur = f"{cur['gross'] / cur['revenue'] * 100:.1f}%"
        gm_pri = f"{pri['gross'] / pri['revenue'] * 100:.1f}%"
        self.facts["gross_pct"] = gm_cur
        etr = f"{cur['tax'] / cur['pretax'] * 100:.1f}%"
        self.facts["tax_rate"] = etr
        liquid = self.bs["cash"] + self.bs["ms"]
        self.facts["liquid"] = f"{liquid:,}"
        paras = [
            Heading("Item 2. Management's Discussion and Analysis of Financial Condition and Results of Operations",
                    HEAD, "i2"),
            Paragraph("The following discussion should be read in conjunction with the condensed consolidated "
                      "financial statements and accompanying notes included in Part I, Item 1 of this Form 10-Q and "
                      "the consolidated financial statements and accompanying notes in the Company's most recent "
                      "Annual Report on Form 10-K.", BODY),
            Paragraph("Business Overview", SUB),
            Paragraph(f"{_esc(c.legal)} designs, manufactures and markets {c.products}. The Company sells to "
                      f"{c.customers} through its direct sales force and through distributors and resellers.", BODY),
            Paragraph(f"Quarterly Highlights", SUB),
            Paragraph(f"Total {word} {verb} {p}% or ${abs(cur['revenue'] - pri['revenue']):,} million to "
                      f"${cur['revenue']:,} million during the {qw} compared to the same quarter in "
                      f"{'fiscal ' if c.calendar != 'calendar' else ''}{f.fy - 1}. "
                      f"{line_name(c, 0)} totaled ${cur['line1']:,} million and {line_name(c, 1, lower=True)} totaled "
                      f"${cur['line2']:,} million. Net income for the quarter was ${cur['net']:,} million, "
                      f"or ${eps(cur['net'], cur['shares_diluted'])} per diluted share, compared to "
                      f"${pri['net']:,} million, or ${eps(pri['net'], pri['shares_diluted'])} per diluted share, "
                      f"in the {pqw}.", BODY),
        ]
        if f.q > 1:
            yv, yp = change("revenue", self.cur_ytd, self.pri_ytd)
            self.facts["ytd_growth"] = f"{yp}%"
            self.facts["ytd_verb"] = yv
            paras.append(Paragraph(
                f"For the first {MONTHS_WORD[f.q].lower()} months of {'fiscal ' if c.calendar != 'calendar' else ''}"
                f"{f.fy}, total {word} {yv} {yp}% to ${self.cur_ytd['revenue']:,} million and net income was "
                f"${self.cur_ytd['net']:,} million.", BODY))
        seg_sentences = []
        for n in cur["segments"]:
            sv, sp = change(n, cur["segments"], pri["segments"])
            self.facts[f"seg_growth:{n}"] = f"{sp}%"
            self.facts[f"seg_verb:{n}"] = sv
            seg_sentences.append(f"{n} {word} {sv} {sp}% to ${cur['segments'][n]:,} million")
        paras += [
            Paragraph(f"{'Segment' if c.segment_word == 'segment' else 'Regional'} Performance", SUB),
            Paragraph("; ".join(seg_sentences) + f" in the {qw}, compared to the same quarter a year earlier. "
                      f"Changes in foreign currency exchange rates had an unfavorable impact on the Company's "
                      f"{word} outside the United States.", BODY),
            Paragraph(c.gross_word, SUB),
            Paragraph(f"{c.gross_word} percentage was {gm_cur} in the {qw}, compared to {gm_pri} in the {pqw}. "
                      f"The change was driven primarily by product mix and cost savings, partially offset by higher "
                      f"costs of {c.inputs.split(',')[0]} and other components.", BODY),
            Paragraph("Operating Expenses", SUB),
            Paragraph(f"Research and development expense {change('rd')[0]} {change('rd')[1]}% to ${cur['rd']:,} "
                      f"million, reflecting the Company's continued investment in new products. Selling, general and "
                      f"administrative expense {change('sga')[0]} {change('sga')[1]}% to ${cur['sga']:,} million.",
                      BODY),
            Paragraph("Provision for Income Taxes", SUB),
            Paragraph(f"The Company's effective tax rate was {etr} for the {qw}, compared to "
                      f"{pri['tax'] / pri['pretax'] * 100:.1f}% for the {pqw}. The effective tax rate differs from the "
                      f"statutory federal income tax rate primarily due to earnings of foreign subsidiaries taxed at "
                      f"different rates, research and development credits and share-based compensation.", BODY),
            Paragraph("Liquidity and Capital Resources", SUB),
            Paragraph(f"As of {long_date(f.end)}, the Company had ${liquid:,} million in cash, cash equivalents and "
                      f"marketable securities. The Company believes its balances of cash, cash equivalents and "
                      f"marketable securities, along with cash generated by ongoing operations and continued access to "
                      f"debt markets, will be sufficient to satisfy its cash requirements and capital return program "
                      f"over the next 12 months and beyond. During the first {MONTHS_WORD[f.q].lower()} months of "
                      f"{'fiscal ' if c.calendar != 'calendar' else ''}{f.fy}, cash generated by operating activities "
                      f"was ${self.cur_ytd['cfo']:,} million and the Company returned "
                      f"${-(self.cur_ytd['dividends'] + self.cur_ytd['buyback']):,} million to shareholders through "
                      f"dividends and share repurchases.", BODY),
            Heading("Item 3. Quantitative and Qualitative Disclosures About Market Risk", HEAD, "i3"),
            Paragraph("There have been no material changes to the Company's market risk during the "
                      f"{MONTHS_WORD[f.q].lower()} months ended {long_date(f.end)}. For a discussion of the Company's "
                      "exposure to market risk, refer to the Company's market risk disclosures set forth in Part II, "
                      "Item 7A of the most recent Annual Report on Form 10-K.", BODY),
            Heading("Item 4. Controls and Procedures", HEAD, "i4"),
            Paragraph("<i>Evaluation of Disclosure Controls and Procedures</i> \u2014 Based on an evaluation under the "
                      "supervision and with the participation of the Company's management, the Company's principal "
                      "executive officer and principal financial officer have concluded that the Company's disclosure "
                      "controls and procedures as defined in Rules 13a-15(e) and 15d-15(e) under the Securities "
                      f"Exchange Act of 1934, as amended, were effective as of {long_date(f.end)} to provide reasonable "
                      "assurance that information required to be disclosed by the Company in reports that it files or "
                      "submits under the Exchange Act is recorded, processed, summarized and reported within the time "
                      "periods specified in the SEC rules and forms.", BODY),
            Paragraph("<i>Changes in Internal Control over Financial Reporting</i> \u2014 There were no changes in the "
                      "Company's internal control over financial reporting during the "
                      f"{qw} which have materially affected, or are reasonably likely to materially affect, the "
                      "Company's internal control over financial reporting.", BODY),
            PageBreak(),
        ]
        return paras

    def part_two(self):
        c, f = self.c, self.f
        risks = [
            ("Macroeconomic and Industry Risks", None),
            ("The Company's operations and performance depend significantly on global and regional economic "
             "conditions and adverse economic conditions can materially adversely affect the Company's business, "
             "results of operations and financial condition.",
             f"The Company has international operations with sales outside the U.S. representing a majority of its "
             f"total {c.revenue_word}. In addition, the Company's global supply chain is large and complex and a "
             f"majority of the Company's supplier facilities are located outside the U.S. As a result, the Company's "
             f"operations and performance depend significantly on global and regional economic conditions. Adverse "
             f"macroeconomic conditions, including inflation, slower growth or recession, new or increased tariffs "
             f"and other barriers to trade, changes to fiscal and monetary policy, tighter credit, higher interest "
             f"rates, high unemployment and currency fluctuations, can adversely impact demand for the Company's "
             f"{c.products}."),
            (f"The {c.industry} markets are highly competitive and the Company faces substantial competition.",
             f"The markets for the Company's {c.products} are highly competitive and are characterized by aggressive "
             f"price competition, downward pressure on gross margins, frequent introduction of new products and "
             f"rapid adoption of technological advancements by competitors. Many of the Company's competitors have "
             f"broad product lines, lower-priced products, large marketing budgets and greater financial resources. "
             f"If the Company is unable to continue to develop and sell innovative new products with attractive "
             f"margins, its ability to compete effectively would be adversely affected."),
            ("Business Risks", None),
            (f"The Company depends on component and product manufacturing and logistical services provided by "
             f"outsourcing partners, many of which are located outside of the U.S.",
             f"The Company relies on a limited number of suppliers for {c.inputs}. Changes or additions to the "
             f"Company's supply chain require considerable time and resources and involve significant risks and "
             f"uncertainties. The Company's purchase commitments typically cover its requirements for periods up to "
             f"150 days. If the Company's suppliers fail to deliver on schedule, or if the supply of these components "
             f"is constrained, the Company may be unable to meet customer demand, which could materially adversely "
             f"affect its business and results of operations."),
            ("The Company's business depends on the continued service and availability of key personnel.",
             "Much of the Company's future success depends on the continued availability and service of key "
             "personnel, including its executive officers and other highly skilled employees. Experienced personnel "
             "in the Company's industry are in high demand and competition for their talents is intense, especially "
             "in the regions where most of the Company's key personnel are located."),
            ("Legal and Regulatory Compliance Risks", None),
            ("The Company's business, results of operations and financial condition could be adversely impacted by "
             "unfavorable results of legal proceedings or government investigations.",
             "The Company is subject to various claims, legal proceedings and government investigations that have "
             "arisen in the ordinary course of business and have not yet been fully resolved, and new matters may "
             "arise in the future. Results of legal proceedings cannot be predicted with certainty. Regardless of "
             "merit, litigation and government investigations are often expensive, time-consuming, disruptive to the "
             "Company's operations and distracting to management."),
            ("The Company is exposed to credit risk and fluctuations in the values of its investment portfolio.",
             "The Company's investments can be negatively affected by changes in liquidity, credit deterioration, "
             "financial results, market and economic conditions, political risk, sovereign risk, interest rate "
             "fluctuations or other factors. As a result, the value and liquidity of the Company's cash, cash "
             "equivalents and marketable securities may fluctuate substantially."),
            ("The Company's stock price is subject to volatility.",
             "The Company's stock has experienced substantial price volatility in the past and may continue to do so "
             "in the future. Additionally, the Company, the technology industry and the stock market as a whole have, "
             "from time to time, experienced extreme stock price and volume fluctuations that have affected stock "
             "prices in ways that may have been unrelated to those companies' operating performance."),
        ]
        out = [
            Heading("PART II \u2014 OTHER INFORMATION", HEAD, "ii1"),
            Paragraph("Item 1. Legal Proceedings", HEAD),
            Paragraph("The Company is subject to legal proceedings and claims that have not been fully resolved and "
                      "that have arisen in the ordinary course of business. The Company settled certain matters during "
                      f"the {f.quarter_words} that did not individually or in the aggregate have a material impact on "
                      "the Company's financial condition or operating results. The outcome of litigation is inherently "
                      "uncertain.", BODY),
            Heading("Item 1A. Risk Factors", HEAD, "ii1a"),
            Paragraph("The Company's business, reputation, results of operations, financial condition and stock price "
                      "can be affected by a number of factors, whether currently known or unknown, including those "
                      "described in Part I, Item 1A of the most recent Annual Report on Form 10-K under the heading "
                      "\"Risk Factors.\" When any one or more of these risks materialize from time to time, the "
                      "Company's business, reputation, results of operations, financial condition and stock price can "
                      "be materially and adversely affected. The following risk factors are updated as of "
                      f"{long_date(f.end)}.", BODY),
        ]
        for head, text in risks:
            if text is None:
                out.append(Paragraph(head, SUB))
            else:
                out += [Paragraph(f"<b>{_esc(head)}</b>", BODY), Paragraph(_esc(text), BODY)]
        qt = self.m.quarters[(f.fy, f.q)]
        rep_rows = []
        for first, last, shares, price in qt.buybacks:
            rep_rows.append([f"{long_date(first)} to {long_date(last)}", f"{shares:,}", f"{price:,.2f}", f"{shares:,}"])
        out += [
            Heading("Item 2. Unregistered Sales of Equity Securities and Use of Proceeds", HEAD, "ii2"),
            Paragraph("<i>Purchases of Equity Securities by the Issuer and Affiliated Purchasers</i> \u2014 Share "
                      f"repurchase activity during the three months ended {long_date(f.end)} was as follows (shares in "
                      f"thousands):", BODY),
            simple_table(["Periods", "Total number of shares purchased", "Average price paid per share ($)",
                          "Shares purchased as part of publicly announced plans"], rep_rows, [2.8, 1.4, 1.4, 1.4]),
            Spacer(1, 6),
            Heading("Item 3. Defaults Upon Senior Securities", HEAD, "ii3"),
            Paragraph("None.", BODY),
            Paragraph("Item 4. Mine Safety Disclosures", HEAD),
            Paragraph("Not applicable.", BODY),
            Paragraph("Item 5. Other Information", HEAD),
            Paragraph(f"<i>Insider Trading Arrangements</i> \u2014 During the three months ended {long_date(f.end)}, "
                      f"no director or officer of the Company adopted or terminated a \"Rule 10b5-1 trading "
                      f"arrangement\" or \"non-Rule 10b5-1 trading arrangement,\" as each term is defined in Item 408(a) "
                      f"of Regulation S-K.", BODY),
            CondPageBreak(3 * inch),
            Heading("Item 6. Exhibits", HEAD, "ii6"),
            simple_table(["Exhibit Number", "Exhibit Description", "Filed Herewith"], [
                ["31.1", f"Rule 13a-14(a) / 15d-14(a) Certification of {c.ceo_title}.", "X"],
                ["31.2", f"Rule 13a-14(a) / 15d-14(a) Certification of {c.cfo_title}.", "X"],
                ["32.1", "Section 1350 Certifications of Chief Executive Officer and Chief Financial Officer.", "X"],
                ["101", "Inline XBRL Document Set for the condensed consolidated financial statements and accompanying "
                        "notes in Part I, Item 1 of this Form 10-Q.", "X"],
                ["104", "Inline XBRL for the cover page of this Form 10-Q, included in the Exhibit 101 Inline XBRL "
                        "Document Set.", "X"],
            ], [1.0, 5.0, 1.0], left=True),
            Spacer(1, 12),
            Paragraph("SIGNATURE", CENTER_B),
            Paragraph("Pursuant to the requirements of the Securities Exchange Act of 1934, the Registrant has duly "
                      "caused this report to be signed on its behalf by the undersigned thereunto duly authorized.",
                      BODY),
            Paragraph(f"Date: {long_date(f.end + timedelta(days=33))}", BODY),
            Paragraph(f"{_esc(c.legal)}<br/>By: /s/ {c.cfo}<br/>{c.cfo}<br/>{c.cfo_title}", BODY),
        ]
        return out

    def story(self, pages: dict[str, int]):
        return (self.cover() + self.toc(pages) + self.income_statement() + self.balance_sheet()
                + self.cash_flows() + self.notes() + self.mdna() + self.part_two())


def _footer(f: Filing):
    text = f"{f.company.legal} | {f.label.replace('FY', 'Fiscal ')} Form 10-Q | "

    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        if doc.page > 1:
            canvas.drawCentredString(LETTER[0] / 2, 0.45 * inch, f"{text}{doc.page}")
        canvas.restoreState()

    return draw


def write_pdf(f: Filing, folder: Path) -> tuple[Path, Writer]:
    """Two passes: the first finds the pages of the items for the table of contents."""
    path = Path(folder) / f.file
    pages: dict[str, int] = {}
    for _ in range(2):
        writer = Writer(f)
        doc = _Doc(str(path), pagesize=LETTER, leftMargin=0.75 * inch, rightMargin=0.75 * inch,
                   topMargin=0.7 * inch, bottomMargin=0.75 * inch, title=f.title,
                   author=f.company.legal if f.title else "", subject="", creator="", invariant=1)
        doc.build(writer.story(pages), onFirstPage=_footer(f), onLaterPages=_footer(f))
        pages = doc.toc_pages
    return path, writer


# ----------------------------------------------------------------------------- the browser's print

# What a Paragraph's style looks like on the HTML page.
_HTML_STYLES = {
    "big": "text-align:center;font-weight:bold;font-size:14pt;margin:4pt 0",
    "center": "text-align:center;margin:2pt 0",
    "centerb": "text-align:center;font-weight:bold;margin:2pt 0",
    "head": "font-weight:bold;font-size:10.5pt;margin:8pt 0 4pt",
    "sub": "font-weight:bold;font-style:italic;margin:4pt 0",
    "small": "font-size:8.5pt;text-align:justify;margin:0 0 5pt",
    "body": "text-align:justify;margin:0 0 6pt",
    "cell": "", "cellb": "font-weight:bold",
}


def _html_flowable(flowable) -> str:
    if isinstance(flowable, PageBreak):
        return '<div style="break-after:page"></div>'
    if isinstance(flowable, CondPageBreak):
        return ""  # the browser breaks pages where it must
    if isinstance(flowable, Spacer):
        return f'<div style="height:{flowable.height:.0f}pt"></div>'
    if isinstance(flowable, KeepTogether):
        return "".join(_html_flowable(f) for f in flowable._content)
    if isinstance(flowable, Paragraph):
        tag = "h2" if isinstance(flowable, Heading) else "p"
        return f'<{tag} style="{_HTML_STYLES.get(flowable.style.name, "")}">{flowable.text}</{tag}>'
    if isinstance(flowable, Table):
        return _html_table(flowable)
    raise TypeError(f"no HTML for {type(flowable).__name__}")


def _html_table(table: Table) -> str:
    """The table as EDGAR's HTML writes one: a row per line, "$" in a cell of its own, figures
    right-aligned, spanning headings with colspan."""
    spans = {}
    covered = set()
    for command in getattr(table, "_spanCmds", []):
        (c0, r0), (c1, r1) = command[1], command[2]
        c1 = c1 if c1 >= 0 else len(table._cellvalues[0]) + c1
        spans[(r0, c0)] = c1 - c0 + 1
        covered |= {(r0, c) for c in range(c0 + 1, c1 + 1)}
    rows = []
    for r, line in enumerate(table._cellvalues):
        cells = []
        for c, value in enumerate(line):
            if (r, c) in covered:
                continue
            if isinstance(value, Paragraph):
                text, bold = value.text, value.style.name == "cellb"
            else:
                # A statement's two heading rows (their label cell empty) are bold; other rows not.
                text, bold = html.escape(str(value)), r < 2 and c > 0 and bool(str(value)) and line[0] == ""
            align = "left" if c == 0 or text == "$" else ("center" if r < 2 and (r, c) in spans else "right")
            style = f"text-align:{align};padding:1pt 3pt;vertical-align:bottom" + (";font-weight:bold" if bold else "")
            span = f' colspan="{spans[(r, c)]}"' if (r, c) in spans else ""
            cells.append(f'<td{span} style="{style}">{text}</td>')
        shade = ' style="background:#edf2fa"' if r >= 2 and r % 2 == 0 else ""
        rows.append(f"<tr{shade}>{''.join(cells)}</tr>")
    return ('<table style="border-collapse:collapse;width:100%;font:8pt Helvetica,Arial,sans-serif;'
            f'margin:4pt 0">{"".join(rows)}</table>')


def write_html(f: Filing) -> tuple[str, Writer]:
    """The filing as one HTML page."""
    writer = Writer(f)
    body = "\n".join(_html_flowable(flowable) for flowable in writer.story({}))
    title = html.escape(f.title or f.file)
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
            '<style>@page { size: letter; margin: 0.7in 0.75in } '
            'body { font: 9.5pt "Times New Roman", Times, serif }</style></head>'
            f"<body>{body}</body></html>")
    return page, writer


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-pdf-header-footer")


def print_with_browser(page: str, pdf: Path, chromium: str) -> None:
    """Chromium's own print of the page to a PDF, as a person saving a filing from the browser."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "filing.html"
        source.write_text(page, encoding="utf-8")
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={pdf}",
                        source.as_uri()], check=True, capture_output=True, timeout=120)


# ------------------------------------------------------------------------------------- questions


def possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def be(word: str) -> str:
    return "were" if word.endswith("sales") else "was"


def _answers(n: int) -> list[str]:
    if n < 0:
        return [money(n), f"-{-n:,}", f"-${-n:,} million"]
    out = [money(n), f"${n:,} million"]
    if n >= 1000:
        out.append(f"{n / 1000:.3f}".rstrip("0").rstrip(".") + " billion")
    return out


class Asker:
    def __init__(self, f: Filing, w: Writer, rng: random.Random, latest: bool):
        self.f, self.w, self.r, self.c, self.latest = f, w, rng, f.company, latest

    def co(self, owner=False):
        c = self.c
        name = self.r.choices([c.name, c.legal, c.short, c.ticker], weights=[5, 2, 3, 2])[0]
        return possessive(name) if owner else name

    def p3(self, style):
        f, r = self.f, self.r
        d = long_date(f.end)
        if style == "date":
            return r.choice([f"in the three months ended {d}", f"for the quarter ended {d}",
                             f"during the three-month period ended {d}", f"in the quarter that ended on {d}"])
        if style == "latest":
            return r.choice(["in the most recent quarter", "in its latest quarterly report",
                             "in the quarter covered by its most recent 10-Q"])
        if self.c.calendar != "calendar":
            return r.choice([f"in Q{f.q} fiscal {f.fy}", f"in the {ORDINAL[f.q]} quarter of fiscal {f.fy}",
                             f"in fiscal Q{f.q} {f.fy}", f"for Q{f.q} FY{f.fy}"])
        return r.choice([f"in Q{f.q} {f.fy}", f"in the {ORDINAL[f.q]} quarter of {f.fy}",
                         f"for the {ORDINAL[f.q]} quarter of {f.fy}", f"in {f.q}Q{str(f.fy)[2:]}"])

    def p_ytd(self, style):
        f, r = self.f, self.r
        n = MONTHS_WORD[f.q].lower()
        if style == "date":
            return r.choice([f"for the {n} months ended {long_date(f.end)}", f"in the {n} months ended {long_date(f.end)}"])
        fiscal = "fiscal " if self.c.calendar != "calendar" else ""
        opts = [f"in the first {n} months of {fiscal}{f.fy}", f"year to date through Q{f.q} {fiscal}{f.fy}"]
        if f.q == 2:
            opts.append(f"in the first half of {fiscal}{f.fy}")
        return r.choice(opts)

    def p_bs(self, style):
        f, r = self.f, self.r
        if style == "date":
            return r.choice([f"as of {long_date(f.end)}", f"at {long_date(f.end)}", f"on {long_date(f.end)}"])
        if style == "latest":
            return r.choice(["as of its latest balance sheet", "at the end of the most recent quarter"])
        fiscal = "fiscal " if self.c.calendar != "calendar" else ""
        return r.choice([f"at the end of Q{f.q} {fiscal}{f.fy}", f"at the end of the {ORDINAL[f.q]} quarter of "
                                                                  f"{fiscal}{f.fy}"])

    def q(self, text, answers, style, source):
        text = text[0].upper() + text[1:]
        return {"kind": "fact", "question": text, "doc": self.f.file, "answers": answers, "style": style,
                "source": source}

    # Question makers: each returns a question dict.
    def income(self, style):
        c, w, r = self.c, self.w, self.r
        cur = w.cur3
        word = c.revenue_word
        p = self.p3(style)
        key = r.choice(["revenue", "revenue", "net", "net", "eps", "gross", "rd", "sga", "opinc", "tax", "line2",
                        "opex", "other", "eps_basic"])
        if key == "revenue":
            t = r.choice([f"What {be(word)} {self.co(True)} total {word} {p}?", f"How much {word} did {self.co()} report {p}?",
                          f"{self.co()} total {word} {p}?"])
        elif key == "net":
            t = r.choice([f"What was {self.co(True)} net income {p}?", f"How much net income did {self.co()} earn {p}?",
                          f"What net income did {self.co()} report {p}?"])
        elif key in ("eps", "eps_basic"):
            kind = "diluted" if key == "eps" else "basic"
            t = r.choice([f"What were {self.co(True)} {kind} earnings per share {p}?",
                          f"What was {self.co(True)} {kind} EPS {p}?"])
            shares = cur["shares_diluted" if key == "eps" else "shares_basic"]
            value = eps(cur["net"], shares)
            return self.q(t, [value, f"${value}"], style, f"income statement, {kind} EPS")
        elif key == "gross":
            g = c.gross_word.lower()
            t = r.choice([f"What was {self.co(True)} {g} in dollars {p}?", f"How much {g} (in millions) did "
                                                                             f"{self.co()} make {p}?"])
        elif key == "rd":
            t = r.choice([f"How much did {self.co()} spend on research and development {p}?",
                          f"What was {self.co(True)} R&D expense {p}?"])
        elif key == "sga":
            t = f"What were {self.co(True)} selling, general and administrative expenses {p}?"
        elif key == "opinc":
            t = r.choice([f"What was {self.co(True)} operating income {p}?",
                          f"How much operating income did {self.co()} generate {p}?"])
        elif key == "tax":
            t = f"What was {self.co(True)} provision for income taxes {p}?"
        elif key == "opex":
            t = f"What were {self.co(True)} total operating expenses {p}?"
        elif key == "other":
            t = f"What was {self.co(True)} other income/(expense), net {p}?"
        else:
            label = line_name(c, 1, lower=True)
            t = r.choice([f"How much {label} did {self.co()} report {p}?", f"What was {self.co(True)} {label} {p}?"])
        return self.q(t, _answers(cur[key]), style, f"income statement, {key}")

    def ytd(self, style):
        c, w, r = self.c, self.w, self.r
        cur = w.cur_ytd
        p = self.p_ytd(style)
        key = r.choice(["revenue", "net", "opinc", "eps"])
        if key == "eps":
            value = eps(cur["net"], cur["shares_diluted"])
            return self.q(f"What were {self.co(True)} diluted earnings per share {p}?", [value, f"${value}"], style,
                          "income statement year to date, diluted EPS")
        label = {"revenue": f"total {c.revenue_word}", "net": "net income", "opinc": "operating income"}[key]
        t = r.choice([f"What was {self.co(True)} {label} {p}?", f"{self.co()}: {label} {p}?"])
        return self.q(t, _answers(cur[key]), style, f"income statement year to date, {key}")

    def balance(self, style):
        w, r = self.w, self.r
        p = self.p_bs(style)
        key = r.choice(["cash", "ta", "inv", "ltd", "te", "ar", "tcl", "ap", "ms"])
        label = {"cash": "cash and cash equivalents", "ta": "total assets", "inv": "inventories",
                 "ltd": "long-term debt (excluding the current portion)", "te": "total shareholders' equity",
                 "ar": "accounts receivable, net", "tcl": "total current liabilities", "ap": "accounts payable",
                 "ms": "current marketable securities"}[key]
        t = r.choice([f"What were {self.co(True)} {label} {p}?", f"How much {label} did {self.co()} have {p}?",
                      f"{self.co(True)} {label} {p}?"])
        if key in ("ta", "te", "tcl", "ltd"):
            t = r.choice([f"What was {self.co(True)} {label} {p}?", f"{self.co(True)} {label} {p}?"])
        return self.q(t, _answers(w.bs[key]), style, f"balance sheet, {key}")

    def cash(self, style):
        f, w, r = self.f, self.w, self.r
        cur = w.cur_ytd
        p = self.p_ytd(style) if f.q > 1 else self.p3(style)
        key = r.choice(["cfo", "capex", "dividends", "buyback", "cfi"])
        t = {
            "cfo": f"How much cash did {self.co()} generate from operating activities {p}?",
            "capex": f"How much did {self.co()} spend on property, plant and equipment {p}?",
            "dividends": f"How much did {self.co()} pay in dividends {p}?",
            "buyback": f"How much did {self.co()} spend repurchasing its common stock {p}, per the cash flow statement?",
            "cfi": f"What was {self.co(True)} net cash generated by/(used in) investing activities {p}?",
        }[key]
        value = cur[key] if key == "cfi" else abs(cur[key])
        return self.q(t, _answers(value), style, f"cash flow statement, {key}")

    def segment(self, style):
        c, w, r = self.c, self.w, self.r
        p = self.p3(style)
        names = list(w.cur3["segments"])
        n = r.choice(names)
        if c.segment_word == "segment" and r.random() < 0.4:
            t = f"What was the operating profit of {self.co(True)} {n} segment {p}?"
            return self.q(t, _answers(w.cur3["segment_profit"][n]), style, "segment note, operating profit")
        if c.segment_word == "segment":
            t = r.choice([f"What were net sales of {self.co(True)} {n} segment {p}?",
                          f"How much did {self.co(True)} {n} segment sell {p}?"])
        else:
            t = r.choice([f"What {be(c.revenue_word)} {self.co(True)} {c.revenue_word} from {n} {p}?",
                          f"How much {c.revenue_word} did {self.co()} generate in {n} {p}?"])
        return self.q(t, _answers(w.cur3["segments"][n]), style, "segment note, net sales")

    def prose(self, style):
        c, w, r, f = self.c, self.w, self.r, self.f
        p = self.p3(style)
        key = r.choice(["growth", "growth", "gross_pct", "tax_rate", "liquid", "seg_growth", "repurchased",
                        "shares_out"])
        facts = w.facts
        if key == "shares_out":
            t = r.choice([f"How many shares of common stock did {self.co()} have outstanding as of "
                          f"{facts['shares_date']}?", f"What was {self.co(True)} share count as of "
                                                      f"{facts['shares_date']}, per the cover page?"])
            v = facts["shares_outstanding"]
            millions = f"{int(v.replace(',', '')) / 1e6:.1f} million"
            return self.q(t, [v, millions], "date", "cover page, shares outstanding")
        if key == "growth":
            options = [f"By what percentage did {self.co(True)} total {c.revenue_word} change year over year {p}?"]
            if facts["revenue_verb"] == "increased":
                options.append(f"How much did {self.co(True)} {c.revenue_word} grow {p} compared to a year earlier, "
                               f"in percent?")
            t = r.choice(options)
            v = facts["revenue_growth"]
            return self.q(t, [v, v.replace("%", " percent")], style, "MD&A, revenue growth")
        if key == "seg_growth":
            n = r.choice(list(w.cur3["segments"]))
            t = f"By what percentage did {n} {c.revenue_word} change at {self.co()} {p}, year over year?"
            v = facts[f"seg_growth:{n}"]
            return self.q(t, [v, v.replace("%", " percent")], style, "MD&A, segment growth")
        if key == "gross_pct":
            t = f"What was {self.co(True)} {c.gross_word.lower()} percentage {p}?"
            v = facts["gross_pct"]
            return self.q(t, [v, v.replace("%", " percent")], style, "MD&A, gross margin percentage")
        if key == "tax_rate":
            t = f"What was {self.co(True)} effective tax rate {p}?"
            v = facts["tax_rate"]
            return self.q(t, [v, v.replace("%", " percent")], style, "MD&A, effective tax rate")
        if key == "repurchased":
            t = f"How many shares (in thousands) did {self.co()} repurchase {p}?"
            v = facts["repurchased_shares"]
            return self.q(t, [v, f"{v} thousand"], style, "shareholders' equity note, repurchases")
        t = f"How much cash, cash equivalents and marketable securities did {self.co()} hold {self.p_bs(style)}?"
        v = facts["liquid"]
        return self.q(t, [v, f"${v} million"], style, "MD&A, liquidity")


UNANSWERABLE = (
    ("How many employees did {legal} have as of {end}?", "employees"),
    ("What was the total compensation of {names} chief executive officer in {fy}?", "executive pay"),
    ("What {be} {names} {word} in the first quarter of 2019?", "a period not in the set"),
    ("What is the analysts' consensus price target for {ticker} shares?", "market data"),
    ("How much did {short} pay its independent auditor in fees in {fy}?", "auditor fees"),
    ("What market share does {name} hold in its main product category?", "market share"),
    ("Which customer accounted for the largest share of {names} {word} in {fy}?", "customer concentration"),
    ("How many manufacturing plants does {short} operate in Mexico?", "facilities"),
)


def make_questions(filings: list[Filing], writers: dict[str, Writer], seed: int) -> list[dict]:
    rng = random.Random(seed * 7919 + 17)
    questions = []
    newest = {}
    for f in filings:
        newest[f.company.ticker] = f.file
    plans = ["income", "income", "balance", "cash", "segment", "prose"]
    for f in filings:
        asker = Asker(f, writers[f.file], rng, latest=newest[f.company.ticker] == f.file)
        styles = ["date", "fiscal"]
        made = []
        kinds = list(plans)
        if f.q > 1:
            kinds[rng.choice([3, 5])] = "ytd"
        for i, kind in enumerate(kinds):
            style = styles[(i + rng.randrange(2)) % 2]
            if kind == "ytd" or kind == "cash" and f.q > 1:
                style = rng.choice(["date", "fiscal"])
            if asker.latest and i in (0, 2):
                style = "latest"
            for _ in range(20):  # no two questions alike about one filing
                question = getattr(asker, kind)(style)
                if question["source"] not in {m["source"] for m in made} and question["question"] not in {
                        m["question"] for m in made}:
                    break
            made.append(question)
        questions += made
    by_company = {c.ticker: [f for f in filings if f.company is c] for c in COMPANIES}
    for i, (template, topic) in enumerate(UNANSWERABLE):
        c = COMPANIES[i % len(COMPANIES)]
        f = rng.choice(by_company[c.ticker])
        text = template.format(legal=c.legal, name=c.name, names=possessive(c.name), be=be(c.revenue_word), short=c.short, ticker=c.ticker, end=long_date(f.end),
                               fy=f.fy, word=c.revenue_word)
        questions.append({"kind": "unanswerable", "question": text, "doc": None, "answers": [], "answerable": False,
                          "style": "unanswerable", "source": topic})
    rng.shuffle(questions)
    return [{"id": f"f{i}", **q} for i, q in enumerate(questions, start=1)]


def write_filings(folder: Path, seed: int = 0, browser: str | None = None) -> list[dict]:
    """Writes the PDFs into folder (printed by the Chromium at `browser`, when given); returns the
    questions (also written by main() as questions.jsonl)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    filings = make_filings(seed)
    writers = {}
    for f in filings:
        if browser:
            page, writers[f.file] = write_html(f)
            print_with_browser(page, folder / f.file, browser)
        else:
            _, writers[f.file] = write_pdf(f, folder)
    return make_questions(filings, writers, seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write the look-alike 10-Q filing set and its questions.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--browser", nargs="?", const="/usr/bin/chromium", metavar="CHROMIUM",
                        help="print the filings' HTML pages with this headless Chromium (default: Debian's)")
    args = parser.parse_args(argv)
    if args.browser and not Path(args.browser).is_file():
        parser.error(f"--browser needs Chromium: no {args.browser} (make chromium installs it)")
    started = time.perf_counter()
    questions = write_filings(args.out_dir, args.seed, args.browser)
    with open(args.out_dir / "questions.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            out.write(json.dumps(q) + "\n")
    (args.out_dir / "filings.json").write_text(json.dumps(filing_list(args.seed), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(filing_list(args.seed))} filings and {len(questions)} questions to {args.out_dir} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

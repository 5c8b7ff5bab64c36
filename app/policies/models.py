"""Policies (政策) and their search index.

The index is a table of postings, one row per (term, published policy) with
how often the term occurs in the title and in the rest of the document.
Ranking is BM25 computed by the same SQL on SQLite and PostgreSQL (see
``repository.rank``), so both databases return the same results in the same
order; neither database has to understand Chinese, because the terms come
from jieba (``text.py``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, JSONDoc, TimestampMixin, UTCDateTime

STATUSES = ("draft", "published", "archived")


class Policy(TimestampMixin, Base):
    """A policy document. ``region_id`` is its scope: NULL means everywhere."""

    __tablename__ = "policy"
    __table_args__ = (
        # Newest published first, the order of every list that is not a search.
        Index("ix_policy_status_published_at", "status", "published_at", "id"),
        Index("ix_policy_status_category", "status", "category"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # Markdown
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list, nullable=False)
    issuer: Mapped[str | None] = mapped_column(String(64))
    doc_number: Mapped[str | None] = mapped_column(String(64))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    # Search fields, written by the service whenever the text changes.
    # The folded title (full-width, case and traditional characters folded) for
    # suggestions by substring.
    title_folded: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # Number of term occurrences per field: the field lengths of BM25.
    title_len: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    body_len: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The indexed terms of each field, space-separated, one entry per occurrence:
    # publishing builds the postings from these without segmenting again, and
    # an operator can read why a policy matches.
    title_terms: Mapped[str] = mapped_column(Text, nullable=False, default="")
    body_terms: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # ``text.INDEX_VERSION`` of the pipeline that produced the fields above.
    index_version: Mapped[str] = mapped_column(String(16), nullable=False, default="")


class PolicyTerm(Base):
    """A posting: ``term`` occurs in published policy ``policy_id``.

    Only published policies have postings, so the statistics of BM25 (number
    of documents, document frequency) describe exactly what the public
    searches. The primary key leads with the term: a search reads one
    contiguous range per term (a clustered ``WITHOUT ROWID`` table on SQLite).

    A posting carries all a search needs (the term's weight and the policy's
    region), so a search for a common word reads thousands of small posting
    rows and never the wide policy rows; the service rewrites a policy's
    postings whenever its text or region changes.
    """

    __tablename__ = "policy_term"
    __table_args__ = (
        # On PostgreSQL the key carries the other columns too, so a search is an
        # index-only scan of one range per term and never visits the table.
        PrimaryKeyConstraint("term", "policy_id", postgresql_include=["weight", "region_id"]),
        {"sqlite_with_rowid": False},
    )

    term: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("policy.id", ondelete="CASCADE"), index=True
    )
    # The term's BM25 weight in this policy before the idf, in 1/10000
    # (``repository.posting_weight``).
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    # A copy of the policy's region, for the region rule (policy.region_id has the foreign key).
    region_id: Mapped[int | None] = mapped_column(BigIntPK)


class PolicyTag(Base):
    """One tag of a policy, for the ``tag`` filter (the JSON list on the policy
    is what is shown; this table is what is searched, the same on both databases)."""

    __tablename__ = "policy_tag"
    __table_args__ = (Index("ix_policy_tag_tag", "tag"), {"sqlite_with_rowid": False})

    policy_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("policy.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(16), primary_key=True)

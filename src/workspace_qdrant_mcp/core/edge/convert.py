"""Translate between qdrant-client's ``models`` and qdrant-edge's own types.

wqm speaks ``qdrant_client.models`` everywhere; the adapter keeps that surface
and converts at the shard boundary. Anything Edge cannot express is refused
here with a ``StoreError`` naming it, rather than being silently approximated.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import qdrant_edge as qe
from qdrant_client import models as qm
from qdrant_client.http import models as rest

from ..errors import StoreError

#: Qdrant's default RRF constant (server and local mode both rank with 1 / (k + rank)).
DEFAULT_RRF_K = 2

_DISTANCES = {
    qm.Distance.COSINE: qe.Distance.Cosine,
    qm.Distance.EUCLID: qe.Distance.Euclid,
    qm.Distance.DOT: qe.Distance.Dot,
    qm.Distance.MANHATTAN: qe.Distance.Manhattan,
}

_SCHEMAS = {
    qm.PayloadSchemaType.KEYWORD: qe.PayloadSchemaType.Keyword,
    qm.PayloadSchemaType.INTEGER: qe.PayloadSchemaType.Integer,
    qm.PayloadSchemaType.FLOAT: qe.PayloadSchemaType.Float,
    qm.PayloadSchemaType.GEO: qe.PayloadSchemaType.Geo,
    qm.PayloadSchemaType.TEXT: qe.PayloadSchemaType.Text,
    qm.PayloadSchemaType.BOOL: qe.PayloadSchemaType.Bool,
    qm.PayloadSchemaType.DATETIME: qe.PayloadSchemaType.Datetime,
    qm.PayloadSchemaType.UUID: qe.PayloadSchemaType.Uuid,
}
_SCHEMAS_BACK = {v: k for k, v in _SCHEMAS.items()}


class Unsupported(StoreError):
    """The request uses a feature the Edge adapter does not translate."""


# -- collection configuration ---------------------------------------------------------------


def collection_config(
    vectors: qm.VectorParams | dict[str, qm.VectorParams] | None,
    sparse: dict[str, qm.SparseVectorParams] | None,
) -> dict[str, Any]:
    """The JSON kept in the catalog: the vector configs as qdrant-client dumps them."""
    if isinstance(vectors, qm.VectorParams):
        dense: dict[str, Any] = {"": vectors.model_dump(mode="json", exclude_none=True)}
        unnamed = True
    else:
        dense = {n: p.model_dump(mode="json", exclude_none=True) for n, p in (vectors or {}).items()}
        unnamed = False
    return {
        "vectors": dense,
        "unnamed": unnamed,
        "sparse_vectors": {
            n: p.model_dump(mode="json", exclude_none=True) for n, p in (sparse or {}).items()
        },
    }


def edge_config(config: dict[str, Any], hnsw: qe.HnswIndexConfig | None = None) -> qe.EdgeConfig:
    """The EdgeConfig of a catalog config (with an HNSW config when optimising)."""
    dense = {}
    for name, raw in config["vectors"].items():
        params = qm.VectorParams.model_validate(raw)
        if params.multivector_config is not None:
            raise Unsupported("Multivectors are not supported by the Edge adapter.")
        dense[name] = qe.EdgeVectorParams(size=params.size, distance=_DISTANCES[params.distance])
    sparse = {}
    for name, raw in config["sparse_vectors"].items():
        sp = qm.SparseVectorParams.model_validate(raw)
        modifier = qe.Modifier.Idf if sp.modifier == qm.Modifier.IDF else None
        sparse[name] = qe.EdgeSparseVectorParams(modifier=modifier)
    return qe.EdgeConfig(vectors=dense or None, sparse_vectors=sparse or None, hnsw_config=hnsw)


def vectors_params(config: dict[str, Any]) -> qm.VectorParams | dict[str, qm.VectorParams]:
    """The ``vectors`` part of CollectionParams, as the collection was created."""
    dense = {n: qm.VectorParams.model_validate(raw) for n, raw in config["vectors"].items()}
    if config.get("unnamed"):
        return dense[""]
    return dense


def sparse_params(config: dict[str, Any]) -> dict[str, qm.SparseVectorParams] | None:
    """The ``sparse_vectors`` part of CollectionParams (None when there are none)."""
    sparse = {
        n: qm.SparseVectorParams.model_validate(raw) for n, raw in config["sparse_vectors"].items()
    }
    return sparse or None


def payload_schema_type(schema: Any) -> qe.PayloadSchemaType:
    """An Edge schema type from a qdrant-client schema (type, its string, or index params)."""
    kind = getattr(schema, "type", schema)
    try:
        return _SCHEMAS[qm.PayloadSchemaType(kind)]
    except (ValueError, KeyError):
        raise Unsupported(f"Payload index schema {schema!r} is not supported.") from None


def payload_schema_back(info: Any) -> rest.PayloadIndexInfo:
    """qdrant-client's PayloadIndexInfo from Edge's."""
    return rest.PayloadIndexInfo(data_type=_SCHEMAS_BACK[info.data_type], points=info.points)


# -- ids, vectors, payloads -----------------------------------------------------------------


EdgeId = int | uuid.UUID | str


def point_id(value: Any) -> EdgeId:
    """Check an id the way the server does: an unsigned integer or a UUID (kept as given)."""
    if isinstance(value, bool):
        raise StoreError(f"Point id {value!r} is neither an unsigned integer nor a UUID.")
    if isinstance(value, int):
        if value < 0:
            raise StoreError(f"Point id {value} is negative; ids are unsigned integers or UUIDs.")
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            uuid.UUID(value)
        except ValueError:
            raise StoreError(f"Point id {value!r} is neither an unsigned integer nor a UUID.") from None
        return value
    raise StoreError(f"Point id {value!r} is neither an unsigned integer nor a UUID.")


def id_back(value: Any) -> int | str:
    """qdrant-client's id from Edge's: integers stay, UUIDs become canonical strings."""
    if isinstance(value, int):
        return value
    return str(value)


def sparse_vector(vector: qm.SparseVector) -> qe.SparseVector:
    """Edge's sparse vector, rejecting what the server rejects (duplicates, length mismatch)."""
    if len(vector.indices) != len(vector.values):
        raise StoreError("A sparse vector has different numbers of indices and values.")
    if len(set(vector.indices)) != len(vector.indices):
        raise StoreError("A sparse vector repeats an index.")
    return qe.SparseVector(list(vector.indices), [float(v) for v in vector.values])


def point_vector(vector: Any) -> Any:
    """The vector(s) of a PointStruct: a dense list (unnamed) or a dict of named vectors."""
    if isinstance(vector, dict):
        out: dict[str, Any] = {}
        for name, value in vector.items():
            if isinstance(value, qm.SparseVector):
                out[name] = sparse_vector(value)
            elif isinstance(value, list) and value and isinstance(value[0], list):
                raise Unsupported("Multivectors are not supported by the Edge adapter.")
            elif isinstance(value, list):
                out[name] = [float(x) for x in value]
            else:
                raise Unsupported(f"Vector {name!r} of type {type(value).__name__} is not supported.")
        return out
    if isinstance(vector, list):
        return [float(x) for x in vector]
    raise Unsupported(f"Point vector of type {type(vector).__name__} is not supported.")


def vector_back(vector: Any) -> Any:
    """qdrant-client's vector(s) from Edge's output."""
    if vector is None:
        return None
    if isinstance(vector, dict):
        return {name: _one_vector_back(value) for name, value in vector.items()}
    return _one_vector_back(vector)


def _one_vector_back(value: Any) -> Any:
    if isinstance(value, qe.SparseVector):
        return qm.SparseVector(indices=list(value.indices), values=list(value.values))
    return list(value)


def with_payload(value: Any) -> Any:
    """Edge's payload selector from qdrant-client's ``with_payload``."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, list):
        return qe.PayloadSelector.Include(list(value))
    if isinstance(value, qm.PayloadSelectorInclude):
        return qe.PayloadSelector.Include(list(value.include))
    if isinstance(value, qm.PayloadSelectorExclude):
        return qe.PayloadSelector.Exclude(list(value.exclude))
    raise Unsupported(f"with_payload={value!r} is not supported.")


def with_vectors(value: Any) -> Any:
    """Edge's vector selector from qdrant-client's ``with_vectors``."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, list):
        return list(value)
    raise Unsupported(f"with_vectors={value!r} is not supported.")


# -- filters ----------------------------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def filter_(flt: qm.Filter | None) -> qe.Filter | None:
    """Edge's filter from qdrant-client's (None stays None)."""
    if flt is None:
        return None
    return required_filter(flt)


def required_filter(flt: qm.Filter) -> qe.Filter:
    """Edge's filter from qdrant-client's."""
    min_should = None
    if flt.min_should is not None:
        min_should = qe.MinShould(
            [condition(c) for c in flt.min_should.conditions], flt.min_should.min_count
        )
    return qe.Filter(
        must=[condition(c) for c in _listed(flt.must)] or None,
        should=[condition(c) for c in _listed(flt.should)] or None,
        must_not=[condition(c) for c in _listed(flt.must_not)] or None,
        min_should=min_should,
    )


def condition(cond: Any) -> Any:
    """One condition of a filter."""
    if isinstance(cond, qm.Filter):
        return filter_(cond)
    if isinstance(cond, qm.FieldCondition):
        return _field_condition(cond)
    if isinstance(cond, qm.HasIdCondition):
        return qe.HasIdCondition({point_id(i) for i in cond.has_id})
    if isinstance(cond, qm.IsEmptyCondition):
        return qe.IsEmptyCondition(cond.is_empty.key)
    if isinstance(cond, qm.IsNullCondition):
        return qe.IsNullCondition(cond.is_null.key)
    if isinstance(cond, qm.HasVectorCondition):
        return qe.HasVectorCondition(cond.has_vector)
    if isinstance(cond, qm.NestedCondition):
        return qe.NestedCondition(cond.nested.key, required_filter(cond.nested.filter))
    raise Unsupported(f"Filter condition {type(cond).__name__} is not supported.")


def _field_condition(cond: qm.FieldCondition) -> qe.FieldCondition:
    match: Any = None
    m = cond.match
    if isinstance(m, qm.MatchValue):
        match = qe.MatchValue(m.value)
    elif isinstance(m, qm.MatchAny):
        match = qe.MatchAny(cast(Any, list(m.any)))
    elif isinstance(m, qm.MatchExcept):
        match = qe.MatchExcept(cast(Any, list(m.except_)))
    elif isinstance(m, qm.MatchText):
        match = qe.MatchText(m.text)
    elif isinstance(m, qm.MatchPhrase):
        match = qe.MatchPhrase(m.phrase)
    elif m is not None:
        raise Unsupported(f"Match {type(m).__name__} is not supported.")
    rng: Any = None
    r = cond.range
    if isinstance(r, qm.Range):
        rng = qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt)
    elif isinstance(r, qm.DatetimeRange):
        rng = qe.RangeDateTime(
            gte=_iso(r.gte), gt=_iso(r.gt), lte=_iso(r.lte), lt=_iso(r.lt)
        )
    count: Any = None
    if cond.values_count is not None:
        vc = cond.values_count
        count = qe.ValuesCount(lt=vc.lt, gt=vc.gt, lte=vc.lte, gte=vc.gte)
    if cond.geo_bounding_box or cond.geo_radius or cond.geo_polygon:
        raise Unsupported("Geo conditions are not supported by the Edge adapter.")
    return qe.FieldCondition(
        cond.key, match=match, range=rng, values_count=count,
        is_empty=cond.is_empty, is_null=cond.is_null,
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# -- queries ------------------------------------------------------------------------------------


def scoring_query(query: Any, using: str | None) -> Any:
    """Edge's scoring query from query_points' ``query`` (vector, nearest, fusion)."""
    if isinstance(query, qm.NearestQuery):
        if query.mmr is not None:
            raise Unsupported("MMR queries are not supported by the Edge adapter.")
        query = query.nearest
    if isinstance(query, qm.FusionQuery):
        if query.fusion == qm.Fusion.RRF:
            return qe.Fusion.Rrf(k=DEFAULT_RRF_K)
        return qe.Fusion.Dbsf()
    if isinstance(query, qm.RrfQuery):
        k = query.rrf.k if query.rrf.k is not None else DEFAULT_RRF_K
        return qe.Fusion.Rrf(k=k, weights=query.rrf.weights)
    if isinstance(query, qm.SparseVector):
        return qe.Query.Nearest(sparse_vector(query), using=using)
    if isinstance(query, list) and query and isinstance(query[0], list):
        raise Unsupported("Multivector queries are not supported by the Edge adapter.")
    if isinstance(query, list):
        return qe.Query.Nearest([float(x) for x in query], using=using)
    if hasattr(query, "tolist"):
        return qe.Query.Nearest([float(x) for x in query.tolist()], using=using)
    raise Unsupported(f"Query of type {type(query).__name__} is not supported.")


def prefetches(prefetch: Any) -> list[qe.Prefetch] | None:
    """Edge's prefetch stages (nested ones included)."""
    if prefetch is None:
        return None
    stages: Sequence[qm.Prefetch] = prefetch if isinstance(prefetch, list) else [prefetch]
    out = []
    for stage in stages:
        if stage.lookup_from is not None:
            raise Unsupported("Prefetch lookup_from is not supported by the Edge adapter.")
        out.append(
            qe.Prefetch(
                limit=stage.limit if stage.limit is not None else 10,
                query=None if stage.query is None else scoring_query(stage.query, stage.using),
                prefetches=prefetches(stage.prefetch),
                params=search_params(stage.params),
                filter=filter_(stage.filter),
                score_threshold=stage.score_threshold,
            )
        )
    return out


def search_params(params: qm.SearchParams | None) -> qe.SearchParams | None:
    """Edge's search params (hnsw_ef and exact; the rest is not translated)."""
    if params is None:
        return None
    return qe.SearchParams(hnsw_ef=params.hnsw_ef, exact=bool(params.exact))


def scored_back(point: Any) -> rest.ScoredPoint:
    """qdrant-client's ScoredPoint from Edge's."""
    return rest.ScoredPoint(
        id=id_back(point.id),
        version=point.version,
        score=point.score,
        payload=point.payload,
        vector=vector_back(point.vector),
        order_value=point.order_value,
    )


def record_back(record: Any) -> rest.Record:
    """qdrant-client's Record from Edge's."""
    return rest.Record(
        id=id_back(record.id), payload=record.payload, vector=vector_back(record.vector)
    )

"""The BigQuery double, driven only through the real google-cloud-bigquery client (SPEC §7).

Setup uses the double's helpers; every call under test goes through
``bigquery.Client``, so these tests also pin down which REST calls the client
makes and how it maps the double's answers to exceptions and dtypes.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from tests.support.bigquery_double import BigQueryDouble
from tests.support.gcs_emulator import StorageEmulator

pytestmark = [
    pytest.mark.filterwarnings("ignore:Loading pandas DataFrame into BigQuery:FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*via google-cloud-bigquery is deprecated"),
]

PROJECT = "test-project"
STUDIES = f"`{PROJECT}.ds.studies`"
UTC = dt.timezone.utc
NESTED_SCHEMA = [
    bigquery.SchemaField("SOPInstanceUID", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("ImageType", "STRING", mode="REPEATED"),
    bigquery.SchemaField(
        "Series",
        "RECORD",
        fields=[
            bigquery.SchemaField("Number", "INTEGER"),
            bigquery.SchemaField("Dates", "DATE", mode="REPEATED"),
        ],
    ),
    bigquery.SchemaField("Acquired", "TIMESTAMP"),
]


@pytest.fixture
def bq(bigquery_server: BigQueryDouble) -> BigQueryDouble:
    """The module's double, emptied."""
    bigquery_server.reset()
    return bigquery_server


@pytest.fixture
def client(bq: BigQueryDouble) -> bigquery.Client:
    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": bq.url},
    )


def studies(count: int) -> pd.DataFrame:
    """``count`` studies: UIDs 1.2.826.0.1.N, modalities CT/MR/US in turn."""
    return pd.DataFrame(
        {
            "StudyInstanceUID": [f"1.2.826.0.1.{i}" for i in range(count)],
            "Modality": [("CT", "MR", "US")[i % 3] for i in range(count)],
            "Instances": list(range(count)),
        }
    )


def nested_frame(*uids: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "SOPInstanceUID": list(uids),
            "ImageType": [["ORIGINAL", "PRIMARY"] if i % 2 == 0 else [] for i in range(len(uids))],
            "Series": [{"Number": i, "Dates": [dt.date(2024, 1, i + 1)]} for i in range(len(uids))],
            "Acquired": pd.to_datetime(["2024-01-02T03:04:05.123456Z"] * len(uids), utc=True),
        }
    )


def load_config(write_disposition: str) -> bigquery.LoadJobConfig:
    return bigquery.LoadJobConfig(schema=NESTED_SCHEMA, write_disposition=write_disposition)


def count(client: bigquery.Client, table: str) -> int:
    return next(iter(client.query_and_wait(f"SELECT COUNT(*) AS n FROM {table}"))).n


# -- queries and parameters --


def test_scalar_and_array_parameters_select_the_rows(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    frame = studies(12_000)
    bq.create_table("ds.studies", frame)
    uids = frame["StudyInstanceUID"].tolist()[::-1][:10_000]
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("modality", "STRING", "CT"),
            bigquery.ScalarQueryParameter("min_instances", "INT64", 100),
            bigquery.ArrayQueryParameter("uids", "STRING", uids),
        ]
    )
    sql = (
        f"SELECT COUNT(*) AS n FROM {STUDIES} WHERE Modality = @modality "
        "AND Instances >= @min_instances AND StudyInstanceUID IN UNNEST(@uids)"
    )

    rows = list(client.query(sql, job_config=config).result())

    chosen = frame[frame.StudyInstanceUID.isin(uids)]
    expected = ((chosen.Modality == "CT") & (chosen.Instances >= 100)).sum()
    assert rows[0].n == expected > 0
    sent = bq.requests[0].body["configuration"]["query"]["queryParameters"]
    assert len(sent[2]["parameterValue"]["arrayValues"]) == 10_000


def test_query_calls_are_insert_then_get_query_results(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_table("ds.studies", studies(3))

    client.query(f"SELECT * FROM {STUDIES}").to_dataframe(create_bqstorage_client=False)

    methods = [(r.method, r.path.split("/")[-2]) for r in bq.requests]
    assert methods == [("POST", "test-project"), ("GET", "queries"), ("GET", "queries")]
    assert bq.requests[1].query["maxResults"] == ["0"]
    assert bq.requests[2].query["fields"] == ["jobReference,totalRows,pageToken,rows"]


def test_result_columns_are_named_and_typed_as_bigquery_does(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_table("ds.studies", studies(4))
    sql = f"SELECT COUNT(*), Modality, SUM(Instances), COUNTIF(Instances > 0) FROM {STUDIES} "

    job = client.query(sql + "GROUP BY Modality ORDER BY Modality")
    rows = list(job.result())

    assert [(f.name, f.field_type) for f in job.schema] == [
        ("f0_", "INTEGER"),
        ("Modality", "STRING"),
        ("f1_", "INTEGER"),
        ("f2_", "INTEGER"),
    ]
    assert [tuple(row.values()) for row in rows] == [
        (2, "CT", 3, 1),
        (1, "MR", 1, 1),
        (1, "US", 2, 1),
    ]


def test_to_dataframe_gives_the_spec_dtypes(bq: BigQueryDouble, client: bigquery.Client) -> None:
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    bq.create_table(
        "ds.types",
        pa.table(
            {
                "b": [True, None],
                "i": [1, None],
                "f": [1.5, None],
                "s": ["x", None],
                "day": [dt.date(1998, 9, 24), None],
                "tm": [dt.time(7, 59, 11, 500000), None],
                "dtm": [dt.datetime(2024, 1, 2, 3, 4, 5), None],
                "ts": pa.array([stamp, None], pa.timestamp("us", tz="UTC")),
                "num": pa.array([Decimal("1.250000000"), None], pa.decimal128(38, 9)),
                "arr": [["a", "b"], None],
                "rec": [{"x": 1, "y": "z"}, None],
            }
        ),
    )

    df = client.query("SELECT * FROM ds.types").to_dataframe(create_bqstorage_client=False)

    dtypes = {name: str(kind) for name, kind in df.dtypes.items()}
    spec = {"b": "boolean", "i": "Int64", "f": "float64", "day": "dbdate", "tm": "dbtime"}
    assert {k: dtypes[k] for k in spec} == spec
    assert pd.api.types.is_string_dtype(df["s"]) and df["s"][0] == "x"
    assert dtypes["dtm"].startswith("datetime64[") and str(df["ts"].dt.tz) == "UTC"
    assert (dtypes["num"], dtypes["arr"], dtypes["rec"]) == ("object",) * 3
    assert df["ts"][0] == pd.Timestamp(stamp)
    assert df["tm"][0] == dt.time(7, 59, 11, 500000)
    assert df["day"][0] == dt.date(1998, 9, 24)
    assert df["num"][0] == Decimal("1.25")
    assert list(df["arr"][0]) == ["a", "b"]
    assert df["rec"][0] == {"x": 1, "y": "z"}
    assert df.isna().iloc[1].drop(["arr"]).all()


def test_results_come_in_pages(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_table("ds.studies", studies(25))
    sql = f"SELECT Instances FROM {STUDIES} ORDER BY Instances"

    pages = list(client.query(sql).result(page_size=10).pages)
    waited = [row.Instances for row in client.query_and_wait(sql, page_size=10)]
    listed = client.list_rows(f"{PROJECT}.ds.studies", page_size=10)

    assert [[row.Instances for row in page] for page in pages] == [
        list(range(0, 10)),
        list(range(10, 20)),
        list(range(20, 25)),
    ]
    assert waited == list(range(25))
    assert [len(list(page)) for page in listed.pages] == [10, 10, 5]
    tokens = [r.query.get("pageToken") for r in bq.requests if r.method == "GET"]
    assert sum(token is not None for token in tokens) == 2 + 2 + 2


def test_dry_run_estimates_bytes_without_running(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_table("ds.studies", studies(20))
    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)

    job = client.query(
        f"SELECT StudyInstanceUID FROM {STUDIES} WHERE Instances > 3", job_config=config
    )

    # STRING: 2 + UTF-8 bytes per value; INT64: 8 bytes; Modality is not read.
    uids = sum(len(f"1.2.826.0.1.{i}") + 2 for i in range(20))
    assert job.total_bytes_processed == uids + 20 * 8
    assert job.state == "DONE" and job.statement_type == "SELECT"
    assert [f.name for f in job.schema] == ["StudyInstanceUID"]
    assert bq.jobs == {} and [r.method for r in bq.requests] == ["POST"]


def test_maximum_bytes_billed_refuses_a_query_over_the_cap(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_table("ds.studies", studies(20))
    sql = f"SELECT * FROM {STUDIES}"
    capped = bigquery.QueryJobConfig(maximum_bytes_billed=10 * 2**20 - 1)

    # jobs.insert: the job fails; the client maps this reason, absent from its table, to 500.
    with pytest.raises(exceptions.InternalServerError) as inserted:
        client.query(sql, job_config=capped).result()
    # jobs.query: the call itself answers 400.
    with pytest.raises(exceptions.BadRequest) as queried:
        client.query_and_wait(sql, job_config=capped)
    job = client.query(sql, job_config=bigquery.QueryJobConfig(maximum_bytes_billed=10 * 2**20))

    for error in (inserted.value, queried.value):
        assert error.errors[0]["reason"] == "bytesBilledLimitExceeded"
        assert "exceeded limit for bytes billed: 10485759. 10485760 or higher" in error.message
    assert len(list(job.result())) == 20
    assert job.total_bytes_billed == 10 * 2**20


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("STRING", "o'brien"),
        ("INT64", -(2**63)),
        ("FLOAT64", 0.1),
        ("BOOL", False),
        ("NUMERIC", Decimal("123.456789012")),
        ("BYTES", b"\x00\xff"),
        ("DATE", dt.date(1998, 9, 24)),
        ("TIME", dt.time(7, 59, 11, 123456)),
        ("DATETIME", dt.datetime(2024, 1, 2, 3, 4, 5, 6)),
        ("TIMESTAMP", dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("INT64", None),
        ("TIMESTAMP", None),
    ],
)
def test_each_parameter_type_round_trips(client: bigquery.Client, kind: str, value: object) -> None:
    scalar = bigquery.ScalarQueryParameter("p", kind, value)
    array = bigquery.ArrayQueryParameter("a", kind, [] if value is None else [value, value])
    config = bigquery.QueryJobConfig(query_parameters=[scalar, array])

    row = next(iter(client.query("SELECT @p AS p, @a AS a", job_config=config).result()))

    assert row.p == value and type(row.p) is type(value)
    assert row.a == ([] if value is None else [value, value])


def test_a_missing_parameter_is_a_bad_request(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_table("ds.studies", studies(3))
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("modality", "STRING", "CT")]
    )

    with pytest.raises(exceptions.BadRequest) as caught:
        client.query(
            f"SELECT * FROM {STUDIES}\nWHERE Modality = @modality AND Instances > @floor",
            job_config=config,
        ).result()

    assert caught.value.errors[0]["reason"] == "invalidQuery"
    assert "Query parameter 'floor' not found at [2:44]" in caught.value.message


@pytest.mark.parametrize(
    ("parameter", "bad"),
    [
        (bigquery.ScalarQueryParameter("p", "INT64", "abc"), "abc"),
        (bigquery.ScalarQueryParameter("p", "BOOL", "maybe"), "maybe"),
        (bigquery.ScalarQueryParameter("p", "DATE", "2024-02-30"), "day is out of range"),
        (bigquery.ScalarQueryParameter("p", "TIMESTAMP", "yesterday"), "yesterday"),
        (bigquery.ArrayQueryParameter("p", "INT64", ["1", "x"]), "x"),
    ],
)
def test_a_mistyped_parameter_is_a_bad_request(
    client: bigquery.Client, parameter: bigquery.ScalarQueryParameter, bad: str
) -> None:
    config = bigquery.QueryJobConfig(query_parameters=[parameter])

    with pytest.raises(exceptions.BadRequest) as caught:
        client.query("SELECT @p AS p", job_config=config).result()

    assert "query parameter 'p'" in caught.value.message and bad in caught.value.message


@pytest.mark.parametrize(
    "attack",
    [
        "CT' OR '1'='1",
        "CT'; DROP TABLE ds.studies; --",
        'CT" OR 1=1 --',
        "CT\\' OR 1=1 --",
        "$modality",
        "@modality",
    ],
)
def test_injection_strings_are_only_values(
    bq: BigQueryDouble, client: bigquery.Client, attack: str
) -> None:
    bq.create_table("ds.studies", studies(30))
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("modality", "STRING", attack),
            bigquery.ArrayQueryParameter("uids", "STRING", [attack]),
        ]
    )
    sql = f"SELECT * FROM {STUDIES} WHERE Modality = @modality OR StudyInstanceUID IN UNNEST(@uids)"

    assert list(client.query(sql, job_config=config).result()) == []
    assert count(client, STUDIES) == 30
    assert [t.table_id for t in [client.get_table(f"{PROJECT}.ds.studies")]] == ["studies"]


def test_legacy_sql_is_refused(client: bigquery.Client) -> None:
    config = bigquery.QueryJobConfig(use_legacy_sql=True)

    with pytest.raises(exceptions.BadRequest, match="useLegacySql false"):
        client.query("SELECT 1", job_config=config).result()


# -- loads, tables, datasets, extract --


def test_load_dataframe_honours_each_write_disposition(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_dataset("ds")
    table = f"{PROJECT}.ds.instances"
    first, second = nested_frame("1.1", "1.2"), nested_frame("2.1")

    created = client.load_table_from_dataframe(first, table, job_config=load_config("WRITE_EMPTY"))
    assert created.result().output_rows == 2  # type: ignore[attr-defined]
    with pytest.raises(
        exceptions.Conflict, match=r"Already Exists: Table test-project:ds\.instances"
    ):
        client.load_table_from_dataframe(
            second, table, job_config=load_config("WRITE_EMPTY")
        ).result()
    assert count(client, table.join("``")) == 2
    client.load_table_from_dataframe(second, table, job_config=load_config("WRITE_APPEND")).result()
    assert count(client, table.join("``")) == 3
    client.load_table_from_dataframe(
        first, table, job_config=load_config("WRITE_TRUNCATE")
    ).result()

    rows = client.query(f"SELECT * FROM `{table}` ORDER BY SOPInstanceUID").result()
    got = [dict(row.items()) for row in rows]
    assert [r["SOPInstanceUID"] for r in got] == ["1.1", "1.2"]
    assert got[0]["ImageType"] == ["ORIGINAL", "PRIMARY"] and got[1]["ImageType"] == []
    assert got[1]["Series"] == {"Number": 1, "Dates": [dt.date(2024, 1, 2)]}
    assert got[0]["Acquired"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    uploads = {r.query["uploadType"][0] for r in bq.requests if r.path.startswith("/upload/")}
    assert uploads == {"multipart"}


@pytest.mark.parametrize(
    ("schema", "options", "message"),
    [
        pytest.param(
            [
                bigquery.SchemaField("A", "STRING"),
                bigquery.SchemaField("S", "RECORD", fields=[bigquery.SchemaField("X", "STRING")]),
                bigquery.SchemaField("B", "INTEGER"),
            ],
            [],
            r"Cannot add fields \(field: B\)",
            id="new-field-without-addition",
        ),
        pytest.param(
            [
                bigquery.SchemaField("A", "STRING"),
                bigquery.SchemaField(
                    "S",
                    "RECORD",
                    fields=[
                        bigquery.SchemaField("X", "STRING"),
                        bigquery.SchemaField("Y", "STRING"),
                    ],
                ),
            ],
            [],
            r"Cannot add fields \(field: S\.Y\)",
            id="new-nested-field-without-addition",
        ),
        pytest.param(
            [bigquery.SchemaField("A", "STRING")],
            ["ALLOW_FIELD_ADDITION"],
            "Field S is missing in new schema",
            id="missing-field",
        ),
        pytest.param(
            [
                bigquery.SchemaField("A", "INTEGER"),
                bigquery.SchemaField("S", "RECORD", fields=[bigquery.SchemaField("X", "STRING")]),
            ],
            ["ALLOW_FIELD_ADDITION"],
            "Field A has changed type from STRING to INTEGER",
            id="changed-type",
        ),
    ],
)
def test_an_append_schema_must_keep_the_tables_fields(
    bq: BigQueryDouble, client: bigquery.Client, schema, options, message
) -> None:
    bq.create_dataset("ds")
    table_schema = [
        bigquery.SchemaField("A", "STRING"),
        bigquery.SchemaField("S", "RECORD", fields=[bigquery.SchemaField("X", "STRING")]),
    ]
    frame = pd.DataFrame({"A": ["a"], "S": [{"X": "x"}]})
    config = bigquery.LoadJobConfig(schema=table_schema, write_disposition="WRITE_EMPTY")
    client.load_table_from_dataframe(frame, f"{PROJECT}.ds.t", job_config=config).result()
    before = bq.read_table("ds.t")
    append = bigquery.LoadJobConfig(schema=schema, write_disposition="WRITE_APPEND")
    append.schema_update_options = options
    with pytest.raises(exceptions.BadRequest, match=message):
        client.load_table_from_json([{"A": "b"}], f"{PROJECT}.ds.t", job_config=append).result()
    assert bq.read_table("ds.t").equals(before)


def test_an_append_with_field_addition_adds_nested_fields(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_dataset("ds")
    old = [bigquery.SchemaField("S", "RECORD", mode="REPEATED",
                                fields=[bigquery.SchemaField("X", "STRING")])]  # fmt: skip
    new = [bigquery.SchemaField("S", "RECORD", mode="REPEATED",
                                fields=[bigquery.SchemaField("X", "STRING"),
                                        bigquery.SchemaField("Y", "INTEGER")])]  # fmt: skip
    config = bigquery.LoadJobConfig(schema=old, write_disposition="WRITE_EMPTY")
    frame = pd.DataFrame({"S": [[{"X": "a"}]]})
    client.load_table_from_dataframe(frame, f"{PROJECT}.ds.t", job_config=config).result()
    append = bigquery.LoadJobConfig(schema=new, write_disposition="WRITE_APPEND")
    append.schema_update_options = ["ALLOW_FIELD_ADDITION"]
    frame = pd.DataFrame({"S": [[{"X": "b", "Y": 2}]]})
    client.load_table_from_dataframe(frame, f"{PROJECT}.ds.t", job_config=append).result()
    assert client.get_table(f"{PROJECT}.ds.t").schema == new
    assert bq.read_table("ds.t").to_pylist() == [
        {"S": [{"X": "a", "Y": None}]},
        {"S": [{"X": "b", "Y": 2}]},
    ]


def test_tables_get_returns_the_loaded_schema(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_dataset("ds")
    client.load_table_from_dataframe(
        nested_frame("1.1", "1.2", "1.3"),
        f"{PROJECT}.ds.instances",
        job_config=load_config("WRITE_EMPTY"),
    ).result()

    table = client.get_table(f"{PROJECT}.ds.instances")

    assert table.schema == NESTED_SCHEMA
    assert table.num_rows == 3


def test_load_parquet_file_by_multipart_and_resumable_upload(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_dataset("ds")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"uid": ["1.1", "1.2"], "n": [1, 2]}), buffer)
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET)
    data = buffer.getvalue()

    # A known size under 5 MiB goes multipart; an unknown size goes resumable.
    client.load_table_from_file(io.BytesIO(data), "ds.files", size=len(data), job_config=config)
    client.load_table_from_file(io.BytesIO(data), "ds.files", job_config=config).result()

    assert count(client, "ds.files") == 4
    assert [r.query.get("uploadType") for r in bq.requests if "/upload/" in r.path] == [
        ["multipart"],
        ["resumable"],
        ["resumable"],
    ]
    assert [r.method for r in bq.requests if "/upload/" in r.path] == ["POST", "POST", "PUT"]


def test_load_newline_delimited_json_with_a_nested_schema(
    bq: BigQueryDouble, client: bigquery.Client
) -> None:
    bq.create_dataset("ds")
    rows = [{"SOPInstanceUID": "1.1", "ImageType": ["DERIVED"], "Series": {"Number": 4}}]
    config = bigquery.LoadJobConfig(schema=NESTED_SCHEMA)

    job = client.load_table_from_json(rows, f"{PROJECT}.ds.instances", job_config=config)

    assert job.result().output_rows == 1  # type: ignore[attr-defined]
    assert job.source_format == "NEWLINE_DELIMITED_JSON"
    got = dict(next(iter(client.list_rows(f"{PROJECT}.ds.instances"))).items())
    assert got["ImageType"] == ["DERIVED"] and got["Series"] == {"Number": 4, "Dates": []}


def test_missing_datasets_and_tables_are_404s(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_dataset("ds")

    with pytest.raises(exceptions.NotFound) as dataset:
        client.get_dataset("nope")
    with pytest.raises(exceptions.NotFound, match=r"Not found: Table test-project:ds\.nope"):
        client.get_table("ds.nope")
    with pytest.raises(exceptions.NotFound, match=r"Table test-project:ds\.nope was not found"):
        client.query("SELECT * FROM ds.nope").result()
    with pytest.raises(exceptions.NotFound, match="Not found: Dataset test-project:nope"):
        client.load_table_from_dataframe(
            nested_frame("1"), "nope.t", job_config=load_config("WRITE_EMPTY")
        ).result()

    assert dataset.value.response.json() == {
        "error": {
            "code": 404,
            "message": "Not found: Dataset test-project:nope",
            "errors": [
                {
                    "reason": "notFound",
                    "message": "Not found: Dataset test-project:nope",
                    "domain": "global",
                }
            ],
            "status": "NOT_FOUND",
        }
    }
    assert client.get_dataset("ds").dataset_id == "ds"


def test_delete_table(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_table("ds.studies", studies(2))

    client.delete_table(f"{PROJECT}.ds.studies")

    with pytest.raises(exceptions.NotFound):
        client.get_table(f"{PROJECT}.ds.studies")


def test_extract_writes_a_headerless_csv_to_the_sink() -> None:
    written: dict[str, bytes] = {}
    with BigQueryDouble(PROJECT, storage=written.__setitem__) as double:
        double.create_table("ds.uids", pd.DataFrame({"StudyInstanceUID": ["1.2.3", "1.2.4"]}))
        other = bigquery.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": double.url},
        )
        config = bigquery.ExtractJobConfig(destination_format="CSV", print_header=False)

        other.extract_table("ds.uids", "gs://bucket/uids-*.csv", job_config=config).result()

    assert written == {"gs://bucket/uids-000000000000.csv": b"1.2.3\n1.2.4\n"}


def test_extract_refuses_a_nested_table(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_table("ds.instances", nested_frame("1.1"), schema=NESTED_SCHEMA)

    with pytest.raises(exceptions.BadRequest, match=r"nested schema\. Field: ImageType"):
        client.extract_table("ds.instances", "gs://bucket/x.csv").result()


def test_extract_writes_through_a_storage_client(storage_emulator: StorageEmulator) -> None:
    storage = storage_emulator.client()
    uri = f"gs://{storage_emulator.bucket}/exports/uids.csv"
    with BigQueryDouble(PROJECT, storage=storage) as double:
        double.create_table("ds.uids", pd.DataFrame({"StudyInstanceUID": ["1.2.3"]}))
        other = bigquery.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": double.url},
        )

        other.extract_table("ds.uids", uri).result()

    blob = storage.bucket(storage_emulator.bucket).blob("exports/uids.csv")
    assert blob.download_as_bytes() == b"StudyInstanceUID\n1.2.3\n"


def test_query_into_a_destination_table(bq: BigQueryDouble, client: bigquery.Client) -> None:
    bq.create_table("ds.studies", studies(9))
    sql = f"SELECT StudyInstanceUID FROM {STUDIES} WHERE Modality = 'CT'"

    def run(write_disposition: str) -> None:
        config = bigquery.QueryJobConfig(
            destination=f"{PROJECT}.ds.ct", write_disposition=write_disposition
        )
        client.query(sql, job_config=config).result()

    run("WRITE_EMPTY")
    with pytest.raises(exceptions.Conflict):
        run("WRITE_EMPTY")
    run("WRITE_APPEND")
    assert count(client, "ds.ct") == 6
    run("WRITE_TRUNCATE")
    assert count(client, "ds.ct") == 3

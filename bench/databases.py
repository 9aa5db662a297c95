"""The databases a benchmark runs on: a temp SQLite file always, PostgreSQL when given a URL."""


def databases(url: str | None, example_name: str) -> dict[str, str | None]:
    """{name: URL for bench_engine}; without a URL, says how to add PostgreSQL."""
    if url is None:
        print(f"(pass --database-url postgresql+psycopg://postgres@127.0.0.1/{example_name} for PostgreSQL)")
        return {"sqlite": None}
    return {"sqlite": None, "postgresql": url}

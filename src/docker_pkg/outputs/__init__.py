"""What a run tells: the live view while it runs, the JSON and JUnit report, the HTML run
page and its SVG graph, and the history of past runs kept in SQLite."""

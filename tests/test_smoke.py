from conftest import write_project


def test_example_style_project_serves(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.hello]
        handler_path = "app.handler"
        url_path = "/hello/{name}"
        """, {"app.py": """
        def handler(event, context):
            return {"statusCode": 200, "body": "hi " + event["pathParameters"]["name"]}
        """})
    run = smyth_run(project)
    with run.client() as client:
        response = client.get("/hello/ann")
    assert response.status_code == 200
    assert response.text == "hi ann"
    assert run.stop() == 0
    assert run.children() == set()

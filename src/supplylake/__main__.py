from supplylake.cli.main import app

app(prog_name="supplylake")

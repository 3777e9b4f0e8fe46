# devkube example: the Flask app of the classic kind demo, answering "Hello World" on /.
# In the container gunicorn serves it (see the Dockerfile devkube writes); `python app.py` runs it locally.
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello World"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 8080)))

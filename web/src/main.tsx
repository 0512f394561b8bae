import { render } from "preact";
import { App } from "./app";
import { boot } from "./actions";
import "./style.css";

render(<App />, document.getElementById("app")!);
void boot();

// Starts GraphiQL against this server's /graphql (queries over HTTP, subscriptions over
// WebSocket at the same path). A file of its own because the page's
// Content-Security-Policy allows no inline script. Headers (the bearer token) are not kept in
// the browser's storage.
(function () {
  "use strict";
  var url = new URL("/graphql", window.location.href);
  // Subscriptions: the same path over WebSocket (graphql-transport-ws); GraphiQL sends the
  // headers below as the connection_init payload, which is where the server reads the token.
  var subscriptionUrl = new URL(url.toString());
  subscriptionUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: url.toString(), subscriptionUrl: subscriptionUrl.toString() });
  var container = document.getElementById("graphiql");
  // Styles set from script, not a style attribute or element, which the policy refuses.
  document.body.style.margin = "0";
  container.style.height = "100vh";
  var root = ReactDOM.createRoot(container);
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: "headers",
      defaultHeaders: '{\n  "Authorization": "Bearer <token>"\n}',
      shouldPersistHeaders: false,
    })
  );
})();

// Starts GraphiQL against this server's /graphql. A file of its own because the page's
// Content-Security-Policy allows no inline script. Headers (the bearer token) are not kept in
// the browser's storage.
(function () {
  "use strict";
  var fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", window.location.href).toString() });
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

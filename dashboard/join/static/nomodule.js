// Runs only in browsers without ES modules (the page's code cannot run there): say so in one line.
(function () {
  var problem = document.getElementById("problem");
  var loading = document.getElementById("loading");
  if (loading) loading.hidden = true;
  if (problem) {
    problem.textContent = "This browser is too old for this page: open the link in a recent Chrome, Edge, Firefox or Safari.";
    problem.hidden = false;
  }
})();

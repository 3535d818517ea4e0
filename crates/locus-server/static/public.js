// The public landing page (/public/{projectId}#token=…). The token rides in
// the fragment, so it never reaches a server log, a proxy or a Referer: this
// script reads it, exchanges it for a short-lived bearer, and shows the
// project read-only. Text goes in with textContent only.
(function () {
  'use strict';
  var root = document.getElementById('public');
  var projectId = root.getAttribute('data-project');
  var status = document.getElementById('public-status');
  var token = new URLSearchParams(window.location.hash.slice(1)).get('token');

  function fail(message) {
    status.textContent = message;
    status.className = 'error';
    status.setAttribute('role', 'alert');
  }

  function problem(response) {
    if (response.status === 429) {
      return new Error('Too many visits from your address. Try again in a minute.');
    }
    return new Error('This link does not open the project any more: it may have expired or been revoked.');
  }

  function exchange() {
    return fetch('/rest/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
      credentials: 'omit'
    }).then(function (response) {
      if (!response.ok) { throw problem(response); }
      return response.json();
    }).then(function (body) { return body.access_token; });
  }

  function read(bearer, path) {
    return fetch(path, { headers: { authorization: 'Bearer ' + bearer }, credentials: 'omit' })
      .then(function (response) {
        if (!response.ok) { throw problem(response); }
        return response.json();
      });
  }

  function showViews(page) {
    var list = document.getElementById('public-views');
    (page.content || []).forEach(function (view) {
      var item = document.createElement('li');
      item.setAttribute('data-view', view.name);
      // The map of the view, with the same token in the fragment.
      var title = document.createElement('a');
      title.href = '/public/' + encodeURIComponent(projectId) + '/views/' + encodeURIComponent(view.name) +
        '#token=' + encodeURIComponent(token);
      title.className = 'view-link';
      var strong = document.createElement('strong');
      strong.textContent = view.title || view.name;
      title.appendChild(strong);
      item.appendChild(title);
      if (view.description) {
        var about = document.createElement('span');
        about.className = 'hint';
        about.textContent = ' ' + view.description;
        item.appendChild(about);
      }
      list.appendChild(item);
    });
    document.getElementById('public-no-views').hidden = list.children.length > 0;
    document.getElementById('public-views-card').hidden = false;
  }

  if (!token) {
    fail('This link is incomplete: it carries no access token.');
    return;
  }
  exchange().then(function (bearer) {
    return read(bearer, '/rest/projects/' + projectId).then(function (project) {
      document.title = project.title + ' · Locus';
      document.getElementById('public-title').textContent = project.title;
      document.getElementById('public-description').textContent = project.description || '';
      return read(bearer, '/rest/projects/' + projectId + '/md/views?size=100');
    });
  }).then(function (views) {
    showViews(views);
    status.textContent = '';
    status.hidden = true;
  }).catch(function (error) { fail(error.message); });
}());

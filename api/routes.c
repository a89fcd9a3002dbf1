/* placeholder */ typedef int placeholder_routes;

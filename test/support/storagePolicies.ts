// Supabase's usual policies on storage.objects: a signed-in user reads and writes the folder named
// by its id. The storage worker's tests and the integration suite both run against them.
export const ownFolderPolicies = `
  create policy "own folder: read" on storage.objects for select to authenticated
    using ((storage.foldername(name))[1] = auth.uid()::text);
  create policy "own folder: write" on storage.objects for insert to authenticated
    with check ((storage.foldername(name))[1] = auth.uid()::text);
  create policy "own folder: replace" on storage.objects for update to authenticated
    using ((storage.foldername(name))[1] = auth.uid()::text);
  create policy "own folder: remove" on storage.objects for delete to authenticated
    using ((storage.foldername(name))[1] = auth.uid()::text);`
